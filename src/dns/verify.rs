//! Shadow verification, the adapter half: asks the old provider's servers every question the
//! planner chose and turns their answers into [`SourceView`]s.

use super::import::presentation;
use super::query::{Answer, Authorities};
use crate::plan::verify::SourceView;
use crate::zone::RecordType;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Asks the source about every question, at most `concurrency` at a time.
pub async fn ask_source(
    auth: &Authorities,
    questions: &[(String, RecordType)],
    concurrency: usize,
) -> BTreeMap<(String, RecordType), SourceView> {
    futures::stream::iter(questions.iter().cloned())
        .map(|(name, rtype)| async move {
            let hickory_type = hickory_proto::rr::RecordType::from_str(rtype.as_str())
                .unwrap_or(hickory_proto::rr::RecordType::Unknown(0));
            let view = match auth.ask(&name, hickory_type).await {
                Ok(Answer::Authoritative(records)) if records.is_empty() => SourceView::Nothing,
                Ok(Answer::Authoritative(records)) | Ok(Answer::Referral(records)) => {
                    to_view(rtype, &records)
                }
                Ok(Answer::NxDomain) => SourceView::Nothing,
                Err(e) => SourceView::Unanswered(e.to_string()),
            };
            ((name, rtype), view)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

pub(crate) fn to_view(rtype: RecordType, records: &[hickory_proto::rr::Record]) -> SourceView {
    let mut values: Vec<String> = records
        .iter()
        .map(|r| presentation(rtype, r.data()).unwrap_or_else(|_| r.data().to_string()))
        .collect();
    values.sort();
    values.dedup();
    let ttl = records.iter().map(|r| r.ttl()).min().unwrap_or(0);
    SourceView::Records { ttl, values }
}
