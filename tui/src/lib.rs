//! stockctl: the admin console of stockd and its one-shot commands.
//!
//! The console follows tokio-console's split (STYLE.md item 8):
//! - [`conn`] owns the socket: it connects, reconnects with capped backoff,
//!   keeps the status feed going (subscription, else polling) and runs the
//!   console's requests; it reports everything as [`conn::Event`]s;
//! - [`state`] holds what the daemon reported and what the user is doing;
//!   it changes only through [`state::App::on_event`] and
//!   [`state::App::apply`], both pure;
//! - [`input`] maps keys to [`input::Action`]s (pure, table-driven, and the
//!   same table feeds the help overlay);
//! - [`view`] draws the state, reading it only;
//! - [`term`] restores the terminal on drop and on panic.
//!
//! [`oneshot`] runs the script-friendly subcommands over the same [`conn`].

pub mod cli;
pub mod conn;
pub mod console;
pub mod fmt;
pub mod input;
pub mod oneshot;
pub mod size;
pub mod socket;
pub mod state;
pub mod term;
pub mod view;
