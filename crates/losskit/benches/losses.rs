//! Criterion benches of forward+backward (f32, flex): the fused kernels against the composed
//! tensor-op path and burn's own losses, on the shapes `losskit bench` reports.
//! PyTorch's side of the comparison is `losskit bench` (`bench/torch_losses.py`).

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use losskit::{
    BceWithLogitsLossConfig, BoxIou, BoxIouLossConfig, CrossEntropyLossConfig as LosskitCrossEntropyLossConfig,
    HuberLossConfig, L1LossConfig, MseLossConfig, NllLossConfig, SigmoidFocalLossConfig, SmoothL1LossConfig,
    SoftmaxFocalLossConfig, with_composed,
};

fn logits(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) % 10_000) as f32 / 10_000.0 - 0.5) * 6.0)
        .collect()
}

/// Times forward+backward of `f` on a fresh leaf per iteration (the leaf's creation and
/// every drop untimed).
fn bench<const D: usize, const O: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    data: &TensorData,
    composed: bool,
    f: &dyn Fn(Tensor<D>) -> Tensor<O>,
) {
    let device = Device::flex().autodiff();
    // The leaf, the graph and the gradient are handed back, so criterion drops them after
    // the timing: unmapping a fresh 131 MB input page by page is not the loss's cost.
    let run = |x: Tensor<D>| {
        let grads = f(x.clone()).backward();
        let grad = x.grad(&grads);
        (x, grads, grad)
    };
    group.bench_function(id, |b| {
        b.iter_batched(
            || Tensor::<D>::from_data(data.clone(), (&device, DType::F32)).require_grad(),
            |x| if composed { with_composed(|| run(x)) } else { run(x) },
            BatchSize::PerIteration,
        )
    });
}

fn cross_entropy(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_entropy");
    group.sample_size(10);
    let device = Device::flex().autodiff();
    for (n, k) in [(64usize, 10usize), (4096, 1000), (1024, 32000), (256, 128000)] {
        let data = TensorData::new(logits(n * k), [n, k]);
        let target = Tensor::<1, Int>::from_data(
            TensorData::new((0..n).map(|i| (i * 7 % k) as i64).collect::<Vec<_>>(), [n]),
            &device,
        );
        let ce = LosskitCrossEntropyLossConfig::new().init(&device).unwrap();
        let ours = |x: Tensor<2>| ce.forward(x, target.clone()).unwrap();
        let id = format!("{n}x{k}");
        bench(&mut group, BenchmarkId::new("losskit", &id), &data, false, &ours);
        bench(
            &mut group,
            BenchmarkId::new("losskit-composed", &id),
            &data,
            true,
            &ours,
        );
        let burn_loss = CrossEntropyLossConfig::new().init(&device);
        let burns = |x: Tensor<2>| burn_loss.forward(x, target.clone());
        bench(&mut group, BenchmarkId::new("burn", &id), &data, false, &burns);
    }
    group.finish();
}

fn sigmoid_losses(c: &mut Criterion) {
    let mut group = c.benchmark_group("sigmoid");
    group.sample_size(10);
    let device = Device::flex().autodiff();
    let (n, k) = (4096usize, 1000usize);
    let data = TensorData::new(logits(n * k), [n, k]);
    let labels: Vec<f32> = (0..n * k).map(|i| ((i * 31 % 7) == 0) as u8 as f32).collect();
    let target = Tensor::<2>::from_data(TensorData::new(labels.clone(), [n, k]), (&device, DType::F32));
    let (bce_loss, focal_loss) = (
        BceWithLogitsLossConfig::new().init(&device).unwrap(),
        SigmoidFocalLossConfig::new().init(&device).unwrap(),
    );
    let bce = |x: Tensor<2>| bce_loss.forward(x, target.clone()).unwrap();
    let focal = |x: Tensor<2>| focal_loss.forward(x, target.clone()).unwrap();
    let id = |name: &str| BenchmarkId::new(name, "4096x1000");
    bench(&mut group, id("bce_with_logits/losskit"), &data, false, &bce);
    bench(&mut group, id("bce_with_logits/losskit-composed"), &data, true, &bce);
    let int_target = Tensor::<2, Int>::from_data(
        TensorData::new(labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n, k]),
        &device,
    );
    let burn_loss = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&device);
    let burns = |x: Tensor<2>| burn_loss.forward(x, int_target.clone());
    bench(&mut group, id("bce_with_logits/burn"), &data, false, &burns);
    bench(&mut group, id("sigmoid_focal/losskit"), &data, false, &focal);
    bench(&mut group, id("sigmoid_focal/losskit-composed"), &data, true, &focal);
    group.finish();
}

/// The other fused row kernels, on the (4096, 1000) shape `losskit bench` gives them.
fn row_losses(c: &mut Criterion) {
    let mut group = c.benchmark_group("rows");
    group.sample_size(10);
    let device = Device::flex().autodiff();
    let (n, k) = (4096usize, 1000usize);
    let data = TensorData::new(logits(n * k), [n, k]);
    let target = Tensor::<1, Int>::from_data(
        TensorData::new((0..n).map(|i| (i * 7 % k) as i64).collect::<Vec<_>>(), [n]),
        &device,
    );
    let probs = losskit::softmax(
        Tensor::<2>::from_data(TensorData::new(logits(n * k), [n, k]), (&device, DType::F32)),
        1,
    )
    .unwrap();
    let ce = LosskitCrossEntropyLossConfig::new().init(&device).unwrap();
    let nll = NllLossConfig::new().init(&device);
    let focal = SoftmaxFocalLossConfig::new().init(&device).unwrap();
    let cases: [(&str, &dyn Fn(Tensor<2>) -> Tensor<1>); 5] = [
        ("cross_entropy_probs", &|x| ce.forward_probs(x, probs.clone()).unwrap()),
        ("nll", &|x| nll.forward(x, target.clone()).unwrap()),
        ("softmax_focal", &|x| focal.forward(x, target.clone()).unwrap()),
        ("softmax", &|x| losskit::softmax(x, 1).unwrap().sum()),
        ("log_softmax", &|x| losskit::log_softmax(x, 1).unwrap().sum()),
    ];
    for (name, f) in cases {
        bench(
            &mut group,
            BenchmarkId::new(format!("{name}/losskit"), "4096x1000"),
            &data,
            false,
            f,
        );
        bench(
            &mut group,
            BenchmarkId::new(format!("{name}/losskit-composed"), "4096x1000"),
            &data,
            true,
            f,
        );
    }
    group.finish();
}

/// The fused elementwise regression losses and the box losses, on `losskit bench`'s shapes.
fn catalogue(c: &mut Criterion) {
    let mut group = c.benchmark_group("catalogue");
    group.sample_size(10);
    let device = Device::flex().autodiff();
    let (n, k) = (4096usize, 1000usize);
    let data = TensorData::new(logits(n * k), [n, k]);
    let target = Tensor::<2>::from_data(
        TensorData::new(logits(n * k).into_iter().rev().collect::<Vec<_>>(), [n, k]),
        (&device, DType::F32),
    );
    let (l1, mse) = (L1LossConfig::new().init(), MseLossConfig::new().init());
    let (smooth, huber) = (
        SmoothL1LossConfig::new().init().unwrap(),
        HuberLossConfig::new().init().unwrap(),
    );
    let cases: [(&str, &dyn Fn(Tensor<2>) -> Tensor<1>); 4] = [
        ("l1", &|x| l1.forward(x, target.clone()).unwrap()),
        ("mse", &|x| mse.forward(x, target.clone()).unwrap()),
        ("smooth_l1", &|x| smooth.forward(x, target.clone()).unwrap()),
        ("huber", &|x| huber.forward(x, target.clone()).unwrap()),
    ];
    for (name, f) in cases {
        bench(
            &mut group,
            BenchmarkId::new(format!("{name}/losskit"), "4096x1000"),
            &data,
            false,
            f,
        );
        bench(
            &mut group,
            BenchmarkId::new(format!("{name}/losskit-composed"), "4096x1000"),
            &data,
            true,
            f,
        );
    }
    let boxes = |seed: usize| -> Vec<f32> {
        (0..100_000)
            .flat_map(|i| {
                let (x, y) = (((i * 37 + seed) % 97) as f32, ((i * 53 + seed) % 89) as f32);
                let (w, h) = (1.0 + ((i * 11 + seed) % 41) as f32, 1.0 + ((i * 29 + seed) % 43) as f32);
                [x, y, x + w, y + h]
            })
            .collect()
    };
    let predicted = TensorData::new(boxes(0), [100_000, 4]);
    let truth = Tensor::<2>::from_data(TensorData::new(boxes(5), [100_000, 4]), (&device, DType::F32));
    for kind in [BoxIou::Generalized, BoxIou::Distance, BoxIou::Complete] {
        let loss = BoxIouLossConfig::new(kind).init();
        let f = |x: Tensor<2>| loss.forward(x, truth.clone()).unwrap();
        bench(
            &mut group,
            BenchmarkId::new(format!("{kind:?}/losskit"), "100000x4"),
            &predicted,
            false,
            &f,
        );
        bench(
            &mut group,
            BenchmarkId::new(format!("{kind:?}/losskit-composed"), "100000x4"),
            &predicted,
            true,
            &f,
        );
    }
    group.finish();
}

criterion_group!(benches, cross_entropy, sigmoid_losses, row_losses, catalogue);
criterion_main!(benches);
