//! The procedure as data: steps, their checks, and the guidance engine.
