//! Pieces shared by the screens.

mod alert_card;
mod header;
mod states;

pub use alert_card::AlertCard;
pub use header::Header;
pub use states::{Empty, Loading, Problem};
