//! A tiny model that learns to read with the CTC loss: synthetic sequences of 1 to 5
//! symbols from an alphabet of 5, each symbol drawn as 2 to 4 noisy frames of a one-hot-ish
//! feature vector, with gaps of silence (always one between two copies of a symbol, which
//! CTC needs to read it twice). A per-frame network (a window of 3 frames -> 32 -> ReLU ->
//! 6 classes, the blank first) learns from the sequences alone, without being told which
//! frame holds which symbol; its greedy decodes (the best class of each frame, repeats
//! merged, blanks dropped) are then compared with the truth.
//!
//! `cargo run --release --example ctc_reader`

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::relu};
use losskit::{CtcLossConfig, log_softmax};

/// Symbols 1..=5; class 0 is the blank.
const SYMBOLS: usize = 5;
const CLASSES: usize = SYMBOLS + 1;
/// One feature per symbol and one for silence.
const FEATURES: usize = SYMBOLS + 1;
/// Frames the network sees at once: the frame and one on each side.
const WINDOW: usize = 3;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Roughly normal with standard deviation `scale` (a sum of four uniforms).
    fn noise(&mut self, scale: f32) -> f32 {
        let sum: f32 = (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum();
        scale * (sum - 2.0) * 3f32.sqrt()
    }
}

/// One sequence: its frames and the symbols they show.
struct Sample {
    frames: Vec<[f32; FEATURES]>,
    symbols: Vec<usize>,
}

impl Sample {
    fn draw(rng: &mut Rng) -> Self {
        let symbols: Vec<usize> = (0..1 + rng.below(5)).map(|_| 1 + rng.below(SYMBOLS)).collect();
        let mut frames = Vec::new();
        let lead = rng.below(3);
        show(&mut frames, rng, 0, lead);
        for (i, &symbol) in symbols.iter().enumerate() {
            if i > 0 {
                let gap = usize::from(symbols[i - 1] == symbol) + rng.below(2);
                show(&mut frames, rng, 0, gap);
            }
            let length = 2 + rng.below(3);
            show(&mut frames, rng, symbol, length);
        }
        let tail = rng.below(3);
        show(&mut frames, rng, 0, tail);
        Self { frames, symbols }
    }
}

/// Appends `count` frames showing `feature` (0: silence), each with noise on every feature.
fn show(frames: &mut Vec<[f32; FEATURES]>, rng: &mut Rng, feature: usize, count: usize) {
    for _ in 0..count {
        let mut frame = [0.0; FEATURES];
        frame[feature] = 1.0;
        frame.iter_mut().for_each(|f| *f += rng.noise(0.3));
        frames.push(frame);
    }
}

/// A batch as the network and the loss take it.
struct Batch {
    /// `(T N, WINDOW FEATURES)`, frame-major: row `t N + n` is sample n's window at frame t.
    windows: Tensor<2>,
    frames: usize,
    targets: Tensor<2, Int>,
    input_lengths: Tensor<1, Int>,
    target_lengths: Tensor<1, Int>,
}

impl Batch {
    fn new(samples: &[Sample], device: &Device) -> Self {
        let n = samples.len();
        let frames = samples.iter().map(|s| s.frames.len()).max().unwrap_or(0);
        let width = samples.iter().map(|s| s.symbols.len()).max().unwrap_or(0);
        let mut windows = Vec::with_capacity(frames * n * WINDOW * FEATURES);
        for t in 0..frames {
            for s in samples {
                for k in 0..WINDOW {
                    // Frames before the start and past the end read as zeros.
                    let at = (t + k).checked_sub(1).and_then(|i| s.frames.get(i));
                    windows.extend(at.copied().unwrap_or([0.0; FEATURES]));
                }
            }
        }
        let targets: Vec<i64> = samples
            .iter()
            .flat_map(|s| (0..width).map(|i| s.symbols.get(i).map_or(0, |&c| c as i64)))
            .collect();
        let lengths = |f: &dyn Fn(&Sample) -> usize| {
            Tensor::from_data(
                TensorData::new(samples.iter().map(|s| f(s) as i64).collect::<Vec<_>>(), [n]),
                device,
            )
        };
        Self {
            windows: Tensor::from_data(TensorData::new(windows, [frames * n, WINDOW * FEATURES]), device),
            frames,
            targets: Tensor::from_data(TensorData::new(targets, [n, width]), device),
            input_lengths: lengths(&|s| s.frames.len()),
            target_lengths: lengths(&|s| s.symbols.len()),
        }
    }
}

/// The per-frame network.
#[derive(Module, Debug)]
struct Reader {
    hidden: Linear,
    out: Linear,
}

impl Reader {
    fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(WINDOW * FEATURES, 32).init(device),
            out: LinearConfig::new(32, CLASSES).init(device),
        }
    }

    /// Log-probabilities `(T, N, CLASSES)` of a batch.
    fn read(&self, batch: &Batch) -> Tensor<3> {
        let logits = self.out.forward(relu(self.hidden.forward(batch.windows.clone())));
        let n = batch.windows.dims()[0] / batch.frames.max(1);
        log_softmax(logits.reshape([batch.frames, n, CLASSES]), 2).expect("dimension 2 exists")
    }
}

/// The best class of each frame, repeats merged, blanks dropped: each sample's reading.
fn greedy_decode(log_probs: Tensor<3>, samples: &[Sample]) -> Vec<Vec<usize>> {
    let [_, n, _] = log_probs.dims();
    let best: Vec<i64> = log_probs.argmax(2).into_data().iter::<i64>().collect();
    samples
        .iter()
        .enumerate()
        .map(|(i, sample)| {
            let path = (0..sample.frames.len()).map(|t| best[t * n + i] as usize);
            let mut read: Vec<usize> = Vec::new();
            let mut previous = 0;
            for class in path {
                if class != previous && class != 0 {
                    read.push(class);
                }
                previous = class;
            }
            read
        })
        .collect()
}

/// A held-out sequence as the network read it.
struct Reading {
    read: Vec<usize>,
    truth: Vec<usize>,
}

/// What a training run reached: the share of held-out sequences read exactly, and the first
/// few readings.
struct Outcome {
    accuracy: f64,
    examples: Vec<Reading>,
}

fn train(steps: usize) -> Outcome {
    let device = Device::flex().autodiff();
    device.seed(7);
    let mut rng = Rng(11);
    let mut reader = Reader::new(&device);
    let mut optim = AdamConfig::new().init();
    let loss = CtcLossConfig::new().init();
    for step in 0..steps {
        let samples: Vec<Sample> = (0..32).map(|_| Sample::draw(&mut rng)).collect();
        let batch = Batch::new(&samples, &device);
        let value = loss
            .forward(
                reader.read(&batch),
                batch.targets.clone(),
                batch.input_lengths.clone(),
                batch.target_lengths.clone(),
            )
            .expect("every sample's symbols fit its frames");
        if step % 50 == 0 {
            println!("step {step:>3}: CTC loss {:.4}", value.clone().into_scalar::<f32>());
        }
        let grads = GradientsParams::from_grads(value.backward(), &reader);
        reader = optim.step(0.01, reader, grads);
    }
    let held_out: Vec<Sample> = (0..200).map(|_| Sample::draw(&mut rng)).collect();
    let readings = greedy_decode(reader.read(&Batch::new(&held_out, &device)), &held_out);
    let right = readings
        .iter()
        .zip(&held_out)
        .filter(|(read, s)| **read == s.symbols)
        .count();
    let examples = readings
        .into_iter()
        .zip(&held_out)
        .take(6)
        .map(|(read, s)| Reading {
            read,
            truth: s.symbols.clone(),
        })
        .collect();
    Outcome {
        accuracy: right as f64 / held_out.len() as f64,
        examples,
    }
}

fn main() {
    let outcome = train(500);
    for Reading { read, truth } in &outcome.examples {
        println!(
            "read {read:?}, truth {truth:?}{}",
            if read == truth { "" } else { "  <- wrong" }
        );
    }
    println!("held-out sequences read exactly: {:.1}%", 100.0 * outcome.accuracy);
}

#[test]
fn learns_to_read() {
    let outcome = train(500);
    assert!(outcome.accuracy >= 0.9, "accuracy {}", outcome.accuracy);
}
