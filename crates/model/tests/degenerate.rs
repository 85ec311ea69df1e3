//! Degenerate inputs to the objective: tiny and empty datasets, data with fewer classes than
//! the model, and specs that describe no network. Each is a correct result or a clear error.

use curvscope_model::{
    Activation, ArchSpec, BurnObjective, Cpu, DataError, Dataset, Init, Objective, Precision,
    Targets,
};

fn mlp(classes: usize) -> ArchSpec {
    ArchSpec::Mlp {
        input: 3,
        hidden: vec![4],
        classes,
        activation: Activation::Tanh,
    }
}

fn data(n: usize, labels: Vec<i64>, n_classes: usize) -> Dataset {
    let x = (0..3 * n).map(|i| (i as f32 * 0.37).sin()).collect();
    Dataset::new(
        "d",
        x,
        vec![3],
        Targets::Classes { labels, n_classes },
        None,
    )
    .unwrap()
}

fn objective(arch: ArchSpec, data: &Dataset) -> Result<Box<dyn Objective>, DataError> {
    BurnObjective::<Cpu>::new(arch, data, &Default::default(), Precision::F64)
        .map(BurnObjective::boxed)
}

/// Data labelled in 0..2 on a 10-class model (a 1- or 2-sample `.npz` gets 2 classes from its
/// labels) is the same problem as those labels declared in 0..10: loss, gradient and HVP agree
/// exactly, for N = 1, 2 and more.
#[test]
fn fewer_data_classes_than_outputs_is_the_same_problem() {
    for labels in [vec![1], vec![1, 0], vec![0, 1, 1, 0, 1]] {
        let n = labels.len();
        let arch = mlp(10);
        let theta = arch.init(Init::PyTorch, 3);
        let few = objective(arch.clone(), &data(n, labels.clone(), 2)).unwrap();
        let all = objective(arch, &data(n, labels, 10)).unwrap();
        assert_eq!(few.per_sample_losses(&theta), all.per_sample_losses(&theta));
        assert_eq!(few.grad(&theta), all.grad(&theta));
        let v: Vec<f64> = (0..theta.len()).map(|i| (i as f64).cos()).collect();
        assert_eq!(few.hvp(&theta, &v), all.hvp(&theta, &v));
        assert_eq!(few.accuracy(&theta), all.accuracy(&theta));
    }
}

/// At θ = 0 every logit is 0, so each sample's loss is ln C whatever the labels: a closed form
/// the one-hot width cannot fake.
#[test]
fn zero_parameters_give_log_classes_on_one_sample() {
    let arch = mlp(10);
    let one = objective(arch.clone(), &data(1, vec![1], 2)).unwrap();
    let losses = one.per_sample_losses(&vec![0.0; arch.dim()]);
    assert_eq!(losses.len(), 1);
    assert!((losses[0] - 10f64.ln()).abs() < 1e-12, "{losses:?}");
}

#[test]
fn an_empty_dataset_is_refused_by_name() {
    let empty = data(0, vec![], 10);
    let err = objective(mlp(10), &empty).err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("'d'") && msg.contains("no samples"), "{msg}");
}

#[test]
fn a_misfit_names_the_architecture_readably() {
    let err = objective(mlp(2), &data(2, vec![0, 1], 10)).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("mlp 3→4→2 (tanh)"), "{msg}");
    assert!(!msg.contains("Mlp {"), "{msg}");
    assert!(
        msg.contains("the model has 2 classes, the data 10"),
        "{msg}"
    );
    // A label beyond the model's classes is named with its sample.
    let err = objective(mlp(3), &data(3, vec![0, 1, 4], 5)).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("the model has 3 classes (labels 0 to 2), but sample 2 has label 4"),
        "{msg}"
    );
}

#[test]
fn an_invalid_spec_built_in_code_is_refused_before_any_allocation() {
    let zero = ArchSpec::Mlp {
        input: 3,
        hidden: vec![0],
        classes: 10,
        activation: Activation::Relu,
    };
    let err = objective(zero, &data(2, vec![0, 1], 10)).err().unwrap();
    assert!(err.to_string().contains("`hidden[0]` is 0"), "{err}");
    let huge = ArchSpec::Mlp {
        input: 3,
        hidden: vec![1 << 40],
        classes: 10,
        activation: Activation::Relu,
    };
    let err = objective(huge, &data(2, vec![0, 1], 10)).err().unwrap();
    assert!(err.to_string().contains("GB"), "{err}");
}

/// Images of LeNet's 784 values are read as laid out: `[1, 28, 28]`, `[28, 28]` or flat are the
/// same row-major pixels and load; channels-last `[28, 28, 1]` too (a single channel), but a
/// `[3, 8, 8]` net refuses `[8, 8, 3]` images (as `np.asarray` of RGB pictures gives them),
/// whose values it would read scrambled, naming both shapes.
#[test]
fn samples_laid_out_otherwise_than_the_input_are_refused() {
    let images = |shape: Vec<usize>| {
        let len: usize = shape.iter().product();
        let x = (0..2 * len).map(|i| (i as f32 * 0.37).sin()).collect();
        let labels = Targets::Classes {
            labels: vec![0, 1],
            n_classes: 10,
        };
        Dataset::new("d", x, shape, labels, None).unwrap()
    };
    for shape in [vec![1, 28, 28], vec![28, 28], vec![784], vec![28, 28, 1]] {
        objective(ArchSpec::Lenet, &images(shape.clone())).unwrap_or_else(|e| panic!("{e}"));
    }
    let rgb = ArchSpec::Cnn {
        side: 8,
        channels: vec![3, 4],
        kernel: 3,
        hidden: vec![],
        classes: 10,
    };
    objective(rgb.clone(), &images(vec![3, 8, 8])).unwrap();
    objective(rgb.clone(), &images(vec![192])).unwrap();
    let msg = objective(rgb, &images(vec![8, 8, 3]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("[8, 8, 3]") && msg.contains("[3, 8, 8]"),
        "{msg}"
    );
}
