//! What an envelope counts for, per data category, as Sentry bills it: one error (or
//! transaction, replay, …) per envelope however many items describe it, attachments in bytes,
//! container items (logs, spans) by their `item_count`. Client reports and sessions count
//! nothing against a quota.

use crate::billing::plan::quota_category;
use crate::ingest::category::DataCategory;
use crate::ingest::envelope::Envelope;

/// (category, quantity) of the envelope's items, one entry per category.
pub fn envelope_usage(envelope: &Envelope) -> Vec<(DataCategory, i64)> {
    let mut usage: Vec<(DataCategory, i64)> = Vec::new();
    for item in &envelope.items {
        let category = item.data_category();
        let quantity = match category {
            DataCategory::Attachment => item.payload.len() as i64,
            DataCategory::LogItem | DataCategory::Span | DataCategory::TraceMetric => {
                item.item_count().map_or(1, |n| n as i64)
            }
            DataCategory::Session | DataCategory::Internal | DataCategory::MetricBucket => 1,
            // One event of its kind per envelope, however many items carry it (a minidump and
            // its event, a replay's event and recording).
            _ if usage.iter().any(|(c, _)| *c == category) => continue,
            _ => 1,
        };
        match usage.iter_mut().find(|(c, _)| *c == category) {
            Some((_, total)) => *total += quantity,
            None => usage.push((category, quantity)),
        }
    }
    usage
}

/// What `usage` asks of the quotas, by quota category.
pub fn quota_wants(usage: &[(DataCategory, i64)]) -> Vec<(&'static str, i64)> {
    let mut wants: Vec<(&'static str, i64)> = Vec::new();
    for (category, quantity) in usage {
        let Some(quota) = quota_category(*category) else {
            continue;
        };
        match wants.iter_mut().find(|(q, _)| *q == quota) {
            // Default and security share the error quota, still one per envelope.
            Some((_, total)) if quota == "error" => *total = (*total).max(*quantity),
            Some((_, total)) => *total += quantity,
            None => wants.push((quota, *quantity)),
        }
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::envelope::parse_envelope;

    #[test]
    fn an_event_with_a_minidump_and_an_attachment_counts_one_error_and_the_bytes() {
        let envelope = parse_envelope(
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
              {\"type\":\"event\"}\n{}\n\
              {\"type\":\"attachment\",\"attachment_type\":\"event.minidump\",\"length\":4}\nMDMP\n\
              {\"type\":\"attachment\",\"filename\":\"a.txt\",\"length\":5}\nhello\n\
              {\"type\":\"client_report\"}\n{}\n",
        )
        .expect("envelope");
        let usage = envelope_usage(&envelope);
        assert_eq!(
            usage,
            vec![
                (DataCategory::Error, 1),
                (DataCategory::Attachment, 5),
                (DataCategory::Internal, 1)
            ]
        );
        assert_eq!(quota_wants(&usage), vec![("error", 1), ("attachment", 5)]);
    }

    #[test]
    fn logs_count_their_records_and_sessions_count_for_no_quota() {
        let envelope = parse_envelope(
            b"{}\n{\"type\":\"log\",\"item_count\":3,\"content_type\":\"application/vnd.sentry.items.log+json\"}\n{\"items\":[{},{},{}]}\n\
              {\"type\":\"session\"}\n{}\n",
        )
        .expect("envelope");
        let usage = envelope_usage(&envelope);
        assert_eq!(
            usage,
            vec![(DataCategory::LogItem, 3), (DataCategory::Session, 1)]
        );
        assert_eq!(quota_wants(&usage), vec![("log_item", 3)]);
    }
}
