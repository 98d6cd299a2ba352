//! What is under way per visit: its painting tasks (so deleting a visit stops its
//! painters) and the lock held while a visit is closed (so the painters finishing and
//! the quiz finishing cannot both close it).

use std::sync::Arc;

use articket_style::Painter;
use image::RgbImage;

/// The per-visit registries, held by the studio.
#[derive(Default)]
pub struct Running {
    pub tasks: PaintingTasks,
    pub closing: VisitLocks,
    pub paintings: FreshPaintings,
}

/// Paintings just made (and stored), kept as the painters left them until the visit's
/// ticket is made, so the ticket does not read and decode its files again.
#[derive(Default)]
pub struct FreshPaintings(std::sync::Mutex<std::collections::HashMap<String, Kept>>);

/// One visit's kept paintings.
pub type Kept = Vec<(Painter, Arc<RgbImage>)>;

impl FreshPaintings {
    pub fn keep(&self, visit_id: &str, painter: Painter, painting: Arc<RgbImage>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let kept = map.entry(visit_id.to_owned()).or_default();
        kept.retain(|(p, _)| *p != painter);
        kept.push((painter, painting));
    }

    /// The visit's kept paintings, forgotten here.
    pub fn take(&self, visit_id: &str) -> Kept {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(visit_id).unwrap_or_default()
    }

    /// How many visits have paintings kept.
    #[cfg(test)]
    pub fn visits(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Each visit's running painting tasks (a visit has one, or two when a "try again"
/// overlaps the end of the first).
#[derive(Default)]
pub struct PaintingTasks(
    std::sync::Mutex<std::collections::HashMap<String, Vec<tokio::task::AbortHandle>>>,
);

impl PaintingTasks {
    pub fn started(&self, visit_id: &str, task: tokio::task::AbortHandle) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(visit_id.to_owned()).or_default().push(task);
    }

    /// Called by the task as it ends: forgets the visit's finished tasks.
    pub fn finished(&self, visit_id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tasks) = map.get_mut(visit_id) {
            // The caller is still running, so keep exactly the others that are.
            let current = tokio::task::try_id();
            tasks.retain(|t| !t.is_finished() && Some(t.id()) != current);
            if tasks.is_empty() {
                map.remove(visit_id);
            }
        }
    }

    /// Aborts the visit's tasks; true if any were running.
    pub fn abort(&self, visit_id: &str) -> bool {
        let tasks = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(visit_id)
            .unwrap_or_default();
        tasks.iter().for_each(|t| t.abort());
        !tasks.is_empty()
    }

    /// Whether the visit has painters at work (not finished, not deleted).
    pub fn is_painting(&self, visit_id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(visit_id)
    }

    /// How many visits have painters at work.
    pub fn visits(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One async lock per visit, made on demand and forgotten when nobody holds it.
#[derive(Default)]
pub struct VisitLocks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
);

impl VisitLocks {
    /// The visit's lock (the same one for everyone who asks while it is in use).
    pub fn of(&self, visit_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(visit_id).and_then(std::sync::Weak::upgrade) {
            return lock;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(visit_id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deleted_visits_painting_tasks_are_stopped_and_finished_ones_forgotten() {
        let tasks = PaintingTasks::default();
        let long = tokio::spawn(std::future::pending::<()>());
        tasks.started("a", long.abort_handle());
        let short = tokio::spawn(async {});
        tasks.started("b", short.abort_handle());
        assert_eq!(tasks.visits(), 2);
        short.await.unwrap();
        tasks.finished("b");
        assert_eq!(tasks.visits(), 1, "a finished task is forgotten");
        assert!(tasks.abort("a"));
        assert!(long.await.unwrap_err().is_cancelled());
        assert!(!tasks.abort("a"), "nothing left to stop");
        assert_eq!(tasks.visits(), 0);
    }

    #[test]
    fn fresh_paintings_are_kept_once_per_painter_until_taken() {
        let kept = FreshPaintings::default();
        let img = |v| Arc::new(RgbImage::from_pixel(1, 1, image::Rgb([v, v, v])));
        kept.keep("a", Painter::Picasso, img(1));
        kept.keep("a", Painter::Picasso, img(2));
        kept.keep("a", Painter::Renoir, img(3));
        kept.keep("b", Painter::Renoir, img(4));
        let a = kept.take("a");
        let values: Vec<_> = a.iter().map(|(p, i)| (*p, i.get_pixel(0, 0)[0])).collect();
        assert_eq!(values, [(Painter::Picasso, 2), (Painter::Renoir, 3)]);
        assert!(kept.take("a").is_empty(), "taken once");
        assert_eq!(kept.visits(), 1);
    }

    #[tokio::test]
    async fn a_visit_has_one_lock_while_in_use_and_none_after() {
        let locks = VisitLocks::default();
        let a = locks.of("a");
        assert!(Arc::ptr_eq(&a, &locks.of("a")));
        assert!(!Arc::ptr_eq(&a, &locks.of("b")));
        let held = a.lock().await;
        assert!(locks.of("a").try_lock().is_err(), "the same lock, held");
        assert!(locks.of("b").try_lock().is_ok(), "another visit is free");
        drop(held);
        drop(a);
        locks.of("c");
        assert_eq!(
            locks.0.lock().unwrap().len(),
            1,
            "unused locks are forgotten"
        );
    }
}
