//! The MaskGate door agent.
//!
//! A door sees a person, decides on the spot whether they wear a mask, acts, and reports
//! the visit. Its parts:
//!
//! - [`decide`]: tracking faces across frames and voting once per person (pure functions);
//! - [`classify`] and [`crop`]: the face crop and the ONNX mask classifier (manifest-driven);
//! - [`detect`]: face detection (SeetaFace embedded, UltraFace by path);
//! - [`queue`]: the durable local queue every decision is written to first;
//! - [`uplink`]: the task that drains the queue to the server, exactly once, over HTTP
//!   (`POST /api/v1/visits`) or MQTT (published to a broker, removed on the server's ack);
//! - [`update`]: the model the server assigns, downloaded, checked and swapped in;
//! - [`source`], [`actuate`], [`heartbeat`], [`config`] and [`agent`]: `edge-agent run`, the
//!   door's main loop that ties them together.

pub mod actuate;
pub mod agent;
pub mod benchmark;
pub mod classify;
pub mod config;
pub mod crop;
pub mod decide;
pub mod detect;
pub mod frames;
pub mod heartbeat;
pub mod pipeline;
pub mod queue;
pub mod source;
pub mod update;
pub mod uplink;
