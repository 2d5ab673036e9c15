//! Alipay's `timestamp` parameter: `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai
//! (UTC+8 all year; China has kept no daylight saving time since 1991).

const SHANGHAI_OFFSET_S: i64 = 8 * 3600;

/// `unix_s` as `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai.
pub fn format(unix_s: i64) -> String {
    let local = unix_s + SHANGHAI_OFFSET_S;
    let (days, second_of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = portcullis_domain::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_in_shanghai_time() {
        assert_eq!(super::format(0), "1970-01-01 08:00:00");
        // 2024-02-29 15:59:59 UTC is 23:59:59 in Shanghai; one second later is March.
        assert_eq!(super::format(1_709_222_399), "2024-02-29 23:59:59");
        assert_eq!(super::format(1_709_222_400), "2024-03-01 00:00:00");
        assert_eq!(super::format(1_735_660_800), "2025-01-01 00:00:00");
    }
}
