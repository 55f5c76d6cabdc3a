//! The browser's clock and time zone.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use wasm_bindgen::JsValue;

/// Now, by the browser's clock.
pub fn now() -> DateTime<Utc> {
    from_millis(js_sys::Date::now())
}

/// The browser zone's offset east of UTC at `at`, in minutes.
pub fn offset_minutes(at: DateTime<Utc>) -> i32 {
    let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
    // JavaScript counts the offset westwards.
    -(date.get_timezone_offset() as i32)
}

/// The start of today in the browser's zone.
pub fn local_midnight() -> DateTime<Utc> {
    let date = js_sys::Date::new_0();
    date.set_hours(0);
    date.set_minutes(0);
    date.set_seconds(0);
    date.set_milliseconds(0);
    from_millis(date.get_time())
}

/// The start of `day` in the browser's zone (daylight saving time included).
pub fn midnight_of(day: NaiveDate) -> DateTime<Utc> {
    let date = js_sys::Date::new_with_year_month_day(
        u32::try_from(day.year()).unwrap_or_default(),
        day.month0() as i32,
        day.day() as i32,
    );
    from_millis(date.get_time())
}

/// Today's date in the browser's zone.
pub fn today() -> NaiveDate {
    let now = now();
    (now + chrono::Duration::minutes(i64::from(offset_minutes(now)))).date_naive()
}

/// The browser's IANA time zone (such as `Europe/Berlin`), when it tells.
pub fn time_zone() -> Option<String> {
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    let options = format.resolved_options();
    js_sys::Reflect::get(&options, &JsValue::from_str("timeZone"))
        .ok()?
        .as_string()
}

fn from_millis(millis: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis as i64).unwrap_or_default()
}
