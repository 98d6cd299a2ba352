//! Captions for the prompts' `{caption}`: made once per visit (a visit's painters and
//! retries share one), cleaned of what would fight the painter's style, and the neutral
//! phrase whenever captioning fails or says nothing. Every backend captions through
//! [`Captions`]; only where the caption comes from differs.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// How many visits' captions are remembered.
const REMEMBERED: usize = 64;

/// One visit's caption, made by whichever of its jobs asks first.
type CaptionSlot = (Arc<str>, Arc<OnceCell<String>>);

/// Recent visits' captions.
#[derive(Default)]
pub struct Captions {
    slots: Mutex<VecDeque<CaptionSlot>>,
}

impl Captions {
    /// The visit's caption: made by `make` if no job of the visit has made it yet (the
    /// others wait for that one instead of captioning the same photo again), cleaned;
    /// `neutral` when `make` fails or gives nothing. Never fails.
    pub async fn caption<F, E>(
        &self,
        visit_id: &Arc<str>,
        neutral: &str,
        make: impl FnOnce() -> F,
    ) -> String
    where
        F: Future<Output = Result<String, E>>,
        E: std::fmt::Display,
    {
        self.get_or_make(visit_id, || async {
            match make().await.map(|c| clean_caption(&c)) {
                Ok(c) if !c.is_empty() => {
                    tracing::info!(visit_id = %visit_id, caption = %c, "captioned");
                    c
                }
                Ok(_) => neutral.to_owned(),
                Err(e) => {
                    tracing::warn!(visit_id = %visit_id, "captioning failed, using the neutral phrase: {e}");
                    neutral.to_owned()
                }
            }
        })
        .await
    }

    /// The visit's remembered value, made by `make` if there is none yet.
    async fn get_or_make<F>(&self, visit_id: &Arc<str>, make: impl FnOnce() -> F) -> String
    where
        F: Future<Output = String>,
    {
        let cell = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.iter().find(|(v, _)| v == visit_id) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    slots.push_back((visit_id.clone(), cell.clone()));
                    if slots.len() > REMEMBERED {
                        slots.pop_front();
                    }
                    cell
                }
            }
        };
        cell.get_or_init(make).await.clone()
    }
}

/// A caption fit for a prompt: the subject clause only (CLIP interrogation appends
/// artists and "flavors" after commas, which would fight the painter's style), without
/// the characters A1111 reads as prompt syntax, at most 120 characters.
pub fn clean_caption(raw: &str) -> String {
    let subject = raw.split([',', '\n']).next().unwrap_or("");
    let cleaned: String = subject
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ':' | '|' | '\\'
            )
        })
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 120 {
        out = out.chars().take(120).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A visit's four painters asking at once get one caption, made once; another
    /// visit gets its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_visits_painters_share_one_caption_made_once() {
        let captions = Arc::new(Captions::default());
        let made = Arc::new(AtomicUsize::new(0));
        let visit: Arc<str> = "visit-a".into();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (captions, made, visit) = (captions.clone(), made.clone(), visit.clone());
            tasks.push(tokio::spawn(async move {
                captions
                    .caption(&visit, "a person", || async {
                        made.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, String>("a person smiling, by greg rutkowski".to_owned())
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "a person smiling");
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        let other = captions
            .caption(&"visit-b".into(), "a person", || async {
                Ok::<_, String>("a dog".to_owned())
            })
            .await;
        assert_eq!(other, "a dog");
    }

    #[tokio::test]
    async fn a_failed_or_empty_caption_is_the_neutral_phrase() {
        let captions = Captions::default();
        let failed = captions
            .caption(&"a".into(), "a person", || async { Err("down") })
            .await;
        assert_eq!(failed, "a person");
        let empty = captions
            .caption(&"b".into(), "a person", || async {
                Ok::<_, String>(" (( )) ".to_owned())
            })
            .await;
        assert_eq!(empty, "a person");
    }

    #[test]
    fn captions_lose_flavors_and_prompt_syntax() {
        assert_eq!(
            clean_caption("a woman with (long hair) and a [red] scarf, by greg rutkowski, trending on artstation"),
            "a woman with long hair and a red scarf"
        );
        assert_eq!(
            clean_caption("  <lora:x:1> a\tman \n smiling"),
            "lorax1 a man"
        );
        assert_eq!(clean_caption(&"a".repeat(300)).len(), 120);
    }
}
