//! The rule engine: rule files (pest) and Rhai scripts, compiled once into a
//! [`RulePack`] that the planner evaluates; `lint` checks a pack for rule authors.

pub mod ast;
pub mod diagnostic;
pub mod expr;
pub mod lint;
mod memo;
pub mod merge;
pub mod native;
pub mod pack;
mod parse;
pub mod script;
pub mod select;

pub use pack::{LoadError, RulePack};

/// The active pack, replaced atomically on reload: readers keep the pack they
/// started with until they finish.
pub type SharedPack = arc_swap::ArcSwap<RulePack>;
