//! The tutorial's softmax of z = [1, 2, 3]: p = [0.0900, 0.2447, 0.6652].

use burn::tensor::{Device, Tensor};

fn probabilities() -> Vec<f32> {
    let z = Tensor::<1>::from_data([1.0, 2.0, 3.0], &Device::flex());
    losskit::softmax(z, 0).unwrap().try_into_vec_as::<f32>().unwrap()
}

fn main() {
    println!("softmax([1, 2, 3]) = {:.4?}", probabilities());
}

#[test]
fn prints_the_tutorials_probabilities() {
    let p = probabilities();
    for (got, want) in p.iter().zip([0.0900, 0.2447, 0.6652]) {
        assert!((got - want).abs() < 5e-5, "{p:?}");
    }
}
