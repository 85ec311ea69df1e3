//! The VGG-style net shared by the transfer-count and GPU agreement tests.

/// A small VGG-style net on 1×28×28 images: two blocks of 3×3 convolution (padding 1), ReLU
/// and 2×2 max-pooling, a third pooling over 3×3 windows with stride 2 and padding 1 (windows
/// that overlap and overhang the maps), and a linear classifier.
pub fn vgg_style() -> curvscope_model::ArchSpec {
    serde_json::from_str(
        r#"{"name":"sequential","input":[1,28,28],"layers":[
            {"type":"conv2d","out":4,"kernel":3,"padding":1},{"type":"relu"},
            {"type":"maxpool2d","kernel":2},
            {"type":"conv2d","out":8,"kernel":3,"padding":1},{"type":"relu"},
            {"type":"maxpool2d","kernel":2},
            {"type":"maxpool2d","kernel":3,"stride":2,"padding":1},
            {"type":"flatten"},{"type":"linear","out":10}]}"#,
    )
    .expect("a valid spec")
}
