//! The read-only view of a search: architecture drawings ([`draw`]) and a live web dashboard
//! ([`router`], [`serve`]) over any [`nas_store::TrialStore`].
//!
//! Pages: `/` lists experiments, `/experiments/ID` follows one live (reward per sample, moving
//! baseline, best so far, depth schedule, trial counts, a sortable top-k table), `/trials/ID`
//! shows one trial with its architecture drawn, its training curves, metrics and failure reason.
//! JSON under `/api/…` feeds the pages and scripts; `/trials/ID/arch.svg` is the drawing alone.
//! Static assets are compiled in: no Node build, works offline.
//!
//! The dashboard only ever calls the store's read methods. This crate needs no tensors: it
//! builds without burn.

mod api;
pub mod draw;
mod error;
mod pages;
mod server;

pub use draw::draw;
pub use server::{SharedStore, router, run_blocking, serve};
