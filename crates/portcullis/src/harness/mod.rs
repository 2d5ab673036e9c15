//! What `portcullis bench` and `portcullis soak` share: a fresh database
//! for one run ([`database`]), the gateway and the sandbox acquirer as child
//! processes of this one ([`process`]), and the load on the machine
//! ([`machine`]), reported beside every figure.

pub mod database;
pub mod machine;
pub mod process;
