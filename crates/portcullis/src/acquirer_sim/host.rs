//! The simulated acquirer host: answers each request by the sandbox's
//! test-card table and journals every approval, completion, reversal and
//! refund (synced) before answering.

use super::journal::{Approved, Entry, Ledger, Standing};
use portcullis_connectors::iso8583::codes::response_of_decline;
use portcullis_connectors::iso8583::messages::{
    mask_pan, parse_amount, parse_track2, unix_now, OriginalData, Timestamps,
};
use portcullis_connectors::network_decline;
use portcullis_connectors::sandbox::journal::Journal;
use portcullis_domain::cards::CardNumber;
use portcullis_iso8583::fields::{self, mti, network, processing, response};
use portcullis_iso8583::Message;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;

/// Fields an answer echoes from its request.
const ECHOED: &[u8] = &[
    fields::PROCESSING_CODE,
    fields::AMOUNT,
    fields::TRANSMISSION_DATE_TIME,
    fields::STAN,
    fields::ACQUIRER_ID,
    fields::RRN,
    fields::TERMINAL_ID,
    fields::CARD_ACCEPTOR_ID,
    fields::CURRENCY,
    fields::NETWORK_MANAGEMENT_CODE,
];

pub struct Host {
    state: Mutex<State>,
}

struct State {
    ledger: Ledger,
    /// Declines answered, by RRN, so a repeat answers the same.
    declined: HashMap<String, String>,
    journal: Journal,
}

/// The answer to a request, and the journal entry to sync before sending it.
struct Decision {
    code: &'static str,
    auth_code: Option<String>,
    entry: Option<Entry>,
}

/// An approval that changes the acquirer's books.
fn journaled(entry: Entry) -> Decision {
    Decision {
        code: response::APPROVED,
        auth_code: None,
        entry: Some(entry),
    }
}

fn answer(code: &'static str) -> Decision {
    Decision {
        code,
        auth_code: None,
        entry: None,
    }
}

impl Host {
    pub fn open(path: &std::path::Path) -> anyhow::Result<Host> {
        let (journal, entries) = Journal::open::<Entry>(path)?;
        let mut ledger = Ledger::default();
        for entry in &entries {
            ledger.apply(entry);
        }
        Ok(Host {
            state: Mutex::new(State {
                ledger,
                declined: HashMap::new(),
                journal,
            }),
        })
    }

    /// The answer to `request`, after journaling what it changed; `None` for
    /// a message that is itself an answer.
    pub fn handle(&self, request: &Message) -> anyhow::Result<Option<Message>> {
        let Some(answer_mti) = request.mti().response() else {
            return Ok(None);
        };
        let mut state = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("host state poisoned"))?;
        let decision = state.decide(request);
        if let Some(entry) = &decision.entry {
            let mut line = Vec::new();
            Journal::encode(std::slice::from_ref(entry), &mut line)?;
            state.journal.write_synced(&line)?;
            state.ledger.apply(entry);
        }
        let mut answer = Message::new(answer_mti);
        for field in ECHOED {
            if let Some(value) = request.get(*field) {
                answer.set(*field, value.to_vec())?;
            }
        }
        if let Some(code) = &decision.auth_code {
            answer.set_text(fields::AUTHORIZATION_CODE, code)?;
        }
        answer.set_text(fields::RESPONSE_CODE, decision.code)?;
        Ok(Some(answer))
    }
}

fn text(request: &Message, field: u8) -> Option<String> {
    request.text(field).map(str::to_owned)
}

fn original_key(request: &Message) -> Option<(String, String)> {
    let original = OriginalData::parse(request.text(fields::ORIGINAL_DATA)?)?;
    Some((original.stan, original.transmission))
}

fn auth_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

impl State {
    fn decide(&mut self, request: &Message) -> Decision {
        let mti = request.mti();
        let processing_code = request.text(fields::PROCESSING_CODE);
        if mti == mti::NETWORK_MANAGEMENT {
            return match request.text(fields::NETWORK_MANAGEMENT_CODE) {
                Some(network::SIGN_ON | network::SIGN_OFF | network::ECHO) => {
                    answer(response::APPROVED)
                }
                _ => answer(response::FORMAT_ERROR),
            };
        }
        let required = [fields::AMOUNT, fields::STAN, fields::RRN, fields::CURRENCY];
        if !required.iter().all(|field| request.has(*field)) {
            return answer(response::FORMAT_ERROR);
        }
        match (mti, processing_code) {
            (m, Some(processing::PURCHASE)) if m == mti::AUTHORIZATION || m == mti::FINANCIAL => {
                self.authorize(request, m == mti::FINANCIAL)
            }
            (m, Some(processing::REFUND)) if m == mti::FINANCIAL => self.refund(request),
            (m, _) if m == mti::COMPLETION_ADVICE => self.complete(request),
            (m, _) if m == mti::REVERSAL => self.reverse(request),
            _ => answer(response::INVALID_TRANSACTION),
        }
    }

    fn authorize(&mut self, request: &Message, capture: bool) -> Decision {
        let rrn = text(request, fields::RRN).unwrap_or_default();
        let amount = request
            .text(fields::AMOUNT)
            .and_then(parse_amount)
            .unwrap_or(0);
        if let Some(approved) = self.ledger.approved.get(&rrn).cloned() {
            return self.repeat_approval(&approved, request, amount);
        }
        if let Some(code) = self.declined.get(&rrn) {
            return answer(static_code(code));
        }
        let pan = match (request.text(fields::PAN), request.text(fields::TRACK2)) {
            (Some(pan), _) => pan.to_owned(),
            (None, Some(track2)) => match parse_track2(track2) {
                Some((pan, _)) => pan.to_owned(),
                None => return answer(response::FORMAT_ERROR),
            },
            (None, None) => return answer(response::FORMAT_ERROR),
        };
        let Ok(card) = CardNumber::parse(&pan) else {
            return answer(response::INVALID_CARD_NUMBER);
        };
        if amount <= 0 {
            return answer(response::INVALID_TRANSACTION);
        }
        if let Some(decline) = network_decline(&card) {
            let code = response_of_decline(&decline);
            self.declined.insert(rrn, code.to_owned());
            return answer(code);
        }
        let code = auth_code();
        let now = Timestamps::now();
        let entry = Entry::Approval {
            at: unix_now(),
            date: now.date,
            mti: request.mti().as_str().to_owned(),
            rrn,
            stan: text(request, fields::STAN).unwrap_or_default(),
            transmission: text(request, fields::TRANSMISSION_DATE_TIME).unwrap_or_default(),
            terminal_id: text(request, fields::TERMINAL_ID).unwrap_or_default(),
            card_acceptor_id: text(request, fields::CARD_ACCEPTOR_ID).unwrap_or_default(),
            masked_pan: mask_pan(&pan),
            amount,
            currency: text(request, fields::CURRENCY).unwrap_or_default(),
            auth_code: code.clone(),
            captured: capture,
        };
        Decision {
            code: response::APPROVED,
            auth_code: Some(code),
            entry: Some(entry),
        }
    }

    /// A repeated RRN answers the first answer (same amount), or 94-style
    /// refusal when the repeat differs.
    fn repeat_approval(&mut self, approved: &Approved, request: &Message, amount: i64) -> Decision {
        let Entry::Approval {
            auth_code,
            mti,
            rrn,
            ..
        } = &approved.approval
        else {
            return answer(response::INVALID_TRANSACTION);
        };
        if amount != approved.amount || mti != request.mti().as_str() {
            return answer(response::INVALID_TRANSACTION);
        }
        if approved.standing == Standing::Reversed {
            return answer(response::DO_NOT_HONOUR);
        }
        // The repeat's (STAN, DE 7) names the same transaction in DE 90 too.
        if let (Some(stan), Some(transmission)) = (
            text(request, fields::STAN),
            text(request, fields::TRANSMISSION_DATE_TIME),
        ) {
            self.ledger
                .by_original
                .insert((stan, transmission), rrn.clone());
        }
        Decision {
            code: response::APPROVED,
            auth_code: Some(auth_code.clone()),
            entry: None,
        }
    }

    /// The approval a completion or reversal names (by DE 37, else DE 90).
    fn named_original(&self, request: &Message) -> Option<(String, Approved)> {
        let rrn = self
            .ledger
            .original_rrn(request.text(fields::RRN), original_key(request))?;
        let approved = self.ledger.approved.get(&rrn)?.clone();
        Some((rrn, approved))
    }

    fn complete(&mut self, request: &Message) -> Decision {
        let amount = request
            .text(fields::AMOUNT)
            .and_then(parse_amount)
            .unwrap_or(0);
        let Some((rrn, approved)) = self.named_original(request) else {
            return answer(response::NO_ORIGINAL);
        };
        match approved.standing {
            Standing::Captured { amount: captured } if captured == amount => {
                answer(response::APPROVED)
            }
            Standing::Authorized if amount > 0 && amount <= approved.amount => {
                journaled(Entry::Completion {
                    at: unix_now(),
                    date: Timestamps::now().date,
                    rrn,
                    stan: text(request, fields::STAN).unwrap_or_default(),
                    amount,
                })
            }
            Standing::Authorized => answer(response::INVALID_AMOUNT),
            Standing::Captured { .. } | Standing::Reversed => answer(response::INVALID_TRANSACTION),
        }
    }

    fn reverse(&mut self, request: &Message) -> Decision {
        let Some((rrn, approved)) = self.named_original(request) else {
            return answer(response::NO_ORIGINAL);
        };
        let purchase = matches!(&approved.approval, Entry::Approval { captured: true, .. });
        match approved.standing {
            Standing::Reversed => answer(response::APPROVED),
            Standing::Captured { .. } if !purchase || approved.refunded > 0 => {
                answer(response::INVALID_TRANSACTION)
            }
            Standing::Authorized | Standing::Captured { .. } => journaled(Entry::Reversal {
                at: unix_now(),
                date: Timestamps::now().date,
                rrn,
                stan: text(request, fields::STAN).unwrap_or_default(),
            }),
        }
    }

    fn refund(&mut self, request: &Message) -> Decision {
        let rrn = text(request, fields::RRN).unwrap_or_default();
        let amount = request
            .text(fields::AMOUNT)
            .and_then(parse_amount)
            .unwrap_or(0);
        if let Some(Entry::Refund { amount: first, .. }) = self.ledger.refunds.get(&rrn) {
            return answer(if *first == amount {
                response::APPROVED
            } else {
                response::INVALID_TRANSACTION
            });
        }
        let Some(original_rrn) =
            original_key(request).and_then(|key| self.ledger.by_original.get(&key).cloned())
        else {
            return answer(response::NO_ORIGINAL);
        };
        let Some(approved) = self.ledger.approved.get(&original_rrn) else {
            return answer(response::NO_ORIGINAL);
        };
        let Standing::Captured { amount: captured } = approved.standing else {
            return answer(response::INVALID_TRANSACTION);
        };
        let refundable = captured.saturating_sub(approved.refunded);
        if amount <= 0 || amount > refundable {
            return answer(response::INVALID_AMOUNT);
        }
        journaled(Entry::Refund {
            at: unix_now(),
            date: Timestamps::now().date,
            rrn,
            original_rrn,
            stan: text(request, fields::STAN).unwrap_or_default(),
            amount,
        })
    }
}

/// The static code a remembered decline was answered with.
fn static_code(code: &str) -> &'static str {
    use portcullis_connectors::iso8583::codes::decline_of_response;
    response_of_decline(&decline_of_response(code))
}
