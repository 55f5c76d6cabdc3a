//! Pieces shared by the screens.

mod alert_card;
mod copy_box;
mod echart;
mod header;
mod notice;
mod states;

pub use alert_card::AlertCard;
pub use copy_box::CopyBox;
pub use echart::{EChart, Palette, ThemeChanges};
pub use header::Header;
pub use notice::{Notice, Outcome};
pub use states::{Empty, Loading, Problem};
