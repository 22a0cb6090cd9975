//! End-to-end tests over real HTTP on 127.0.0.1, with a real SQLite file in
//! a temporary directory. One binary (modules below), so actix, reqwest and
//! SQLite are linked once.

mod actions;
mod attachments;
mod auth;
mod bad_input;
mod browser;
mod cancellation;
mod concurrency;
mod conformance;
mod cors;
mod examples;
mod fake_model;
mod faults;
mod helpers;
mod isolation;
mod limits;
mod metrics;
mod models;
mod pagination;
mod persistence;
mod process;
mod properties;
mod requests;
mod transcribe;
mod ui;
