//! Architectures drawn as standalone SVG documents. The same drawing is inlined in the
//! dashboard's trial page and written by `nas draw TRIAL`.

mod cnn;
mod nb201;
mod rnn;
mod svg;

use nas_space::Architecture;

pub use svg::esc;

/// The SVG drawing of any architecture (a complete `<svg>` document with its own styles).
pub fn draw(arch: &Architecture) -> String {
    match arch {
        Architecture::Cnn(a) => cnn::draw(a),
        Architecture::Nb201(a) => nb201::draw(a),
        Architecture::Rnn(c) => rnn::draw(c),
    }
}
