//! The papers' networks as [`Sequential`] specs.

use super::{Layer, Op, Sequential, Size2};

fn layer(op: Op) -> Layer {
    Layer { name: None, op }
}

fn named(name: &str, op: Op) -> Layer {
    Layer {
        name: Some(name.into()),
        op,
    }
}

fn conv(out: usize, kernel: usize, padding: usize) -> Op {
    Op::Conv2d {
        out,
        kernel: Size2::Square(kernel),
        stride: Size2::Square(1),
        padding: Size2::Square(padding),
        dilation: Size2::Square(1),
        groups: 1,
        bias: true,
        standardize: None,
    }
}

fn maxpool2() -> Op {
    Op::Maxpool2d {
        kernel: Size2::Square(2),
        stride: None,
        padding: Size2::Square(0),
        ceil_mode: false,
    }
}

impl Sequential {
    /// VGG-11 without batch norm for 3×32×32 images and 10 classes, the CIFAR variant of
    /// Simonyan & Zisserman's configuration A used by the common CIFAR code (kuangliu/
    /// pytorch-cifar, `VGG('VGG11')` minus its `BatchNorm2d`): `features` = 3×3 convolutions
    /// (padding 1) with ReLU, widths 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M
    /// (M: 2×2 max-pooling), then `AvgPool2d(1, 1)`; flatten; `classifier` = Linear(512, 10).
    /// D = 9,225,610.
    ///
    /// ```
    /// use curvscope_model::{sequential::Sequential, ArchSpec};
    /// let vgg = ArchSpec::Sequential(Sequential::vgg11());
    /// assert_eq!(vgg.dim(), 9_225_610);
    /// assert_eq!(vgg.params()[0], ("features.0.weight".to_string(), vec![64, 3, 3, 3]));
    /// ```
    pub fn vgg11() -> Sequential {
        const WIDTHS: [Option<usize>; 13] = [
            Some(64),
            None,
            Some(128),
            None,
            Some(256),
            Some(256),
            None,
            Some(512),
            Some(512),
            None,
            Some(512),
            Some(512),
            None,
        ];
        let mut features = Vec::new();
        for width in WIDTHS {
            match width {
                Some(out) => features.extend([layer(conv(out, 3, 1)), layer(Op::Relu)]),
                None => features.push(layer(maxpool2())),
            }
        }
        features.push(layer(Op::Avgpool2d {
            kernel: Size2::Square(1),
            stride: Some(Size2::Square(1)),
            padding: Size2::Square(0),
            ceil_mode: false,
            count_include_pad: true,
        }));
        Sequential {
            input: vec![3, 32, 32],
            layers: vec![
                named("features", Op::Group { layers: features }),
                layer(Op::Flatten),
                named(
                    "classifier",
                    Op::Linear {
                        out: 10,
                        bias: true,
                    },
                ),
            ],
            buffer_values: Default::default(),
        }
    }

    /// LeNet ([`crate::ArchSpec::Lenet`]) as a sequential spec: the same tensors under the
    /// same names, computed by the general layers instead of LeNet's fused convolution +
    /// pooling (a cross-check of each against the other).
    ///
    /// ```
    /// use curvscope_model::{sequential::Sequential, ArchSpec};
    /// assert_eq!(ArchSpec::Sequential(Sequential::lenet()).params(), ArchSpec::Lenet.params());
    /// ```
    pub fn lenet() -> Sequential {
        Sequential {
            input: vec![1, 28, 28],
            layers: vec![
                named("conv1", conv(10, 5, 0)),
                layer(Op::Relu),
                layer(maxpool2()),
                named("conv2", conv(10, 5, 0)),
                layer(Op::Relu),
                layer(maxpool2()),
                layer(Op::Flatten),
                named(
                    "fc1",
                    Op::Linear {
                        out: 50,
                        bias: true,
                    },
                ),
                layer(Op::Relu),
                named(
                    "fc2",
                    Op::Linear {
                        out: 10,
                        bias: true,
                    },
                ),
            ],
            buffer_values: Default::default(),
        }
    }

    /// The preset called `name` (`vgg11`), if there is one.
    ///
    /// ```
    /// use curvscope_model::sequential::Sequential;
    /// assert_eq!(Sequential::preset("vgg11"), Some(Sequential::vgg11()));
    /// assert_eq!(Sequential::preset("vgg16"), None);
    /// ```
    pub fn preset(name: &str) -> Option<Sequential> {
        match name {
            "vgg11" => Some(Sequential::vgg11()),
            _ => None,
        }
    }
}
