//! The intake pool: a fixed number of workers and a bounded queue in front of them.
//!
//! Decoding is the most memory-hungry thing the booth does, so at most `workers` photos
//! are decoded at once and at most `queue` more wait. The place in the queue is taken
//! *before* the upload body is read ([`IntakePool::admit`]), so a crowd of uploads gets a
//! quick 503 with Retry-After instead of filling memory with bodies nobody will decode.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use image::{GrayImage, RgbImage};

use crate::{process, IntakeError, IntakeOptions, Photo};

/// Finds the person in a photo that passed intake ([`Person`]; the booth's is
/// `articket_studio::person_in`, MODNet checked against the faces). Kept a function
/// here so intake, and everything that reads its options, does not link the model's
/// runtime.
pub type Matting = Arc<dyn Fn(&RgbImage) -> Result<Person, String> + Send + Sync>;

/// Who is in a photo.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    /// The matte, at the photo's size, or `None` when it is not to be trusted (no one
    /// in it, or a face outside it).
    pub matte: Option<GrayImage>,
    /// Every face found (x, y, width, height in the photo's pixels).
    pub faces: Vec<[f32; 4]>,
}

#[derive(Clone)]
pub struct IntakePool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Finds the person in each photo, when the booth has a matting model.
    matting: Option<Matting>,
    workers: usize,
    queue: usize,
    /// Places in the pool: running plus waiting.
    places: Arc<Semaphore>,
    running: Arc<Semaphore>,
    retry_after_secs: u32,
}

/// How full the pool is, for the operator and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub workers: usize,
    pub queue: usize,
    /// Uploads admitted and not yet finished (running or waiting).
    pub admitted: usize,
}

/// A place in the pool, held from before the body is read until the photo is processed.
pub struct Admission {
    pool: IntakePool,
    _place: OwnedSemaphorePermit,
}

impl IntakePool {
    /// `workers` (at least 1) decode at once; `queue` more may wait.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            inner: Arc::new(Inner {
                matting: None,
                workers,
                queue,
                places: Arc::new(Semaphore::new(workers + queue)),
                running: Arc::new(Semaphore::new(workers)),
                retry_after_secs: 2,
            }),
        }
    }

    /// The same pool, making each photo's matte with `matting` once it has passed
    /// intake (on the same worker: matting is the heaviest part of a photo's intake).
    pub fn with_matting(self, matting: Option<Matting>) -> Self {
        let inner =
            Arc::into_inner(self.inner).expect("with_matting is called before the pool is shared");
        Self {
            inner: Arc::new(Inner { matting, ..inner }),
        }
    }

    /// Takes a place, or answers `Busy` at once when every place is taken.
    pub fn admit(&self) -> Result<Admission, IntakeError> {
        let place =
            self.inner
                .places
                .clone()
                .try_acquire_owned()
                .map_err(|_| IntakeError::Busy {
                    retry_after_secs: self.inner.retry_after_secs,
                })?;
        Ok(Admission {
            pool: self.clone(),
            _place: place,
        })
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.inner.workers,
            queue: self.inner.queue,
            admitted: self.inner.workers + self.inner.queue - self.inner.places.available_permits(),
        }
    }
}

impl Admission {
    /// Waits for a worker, then runs [`process`] on a blocking thread, and the matting
    /// model on the result when the pool has one. A photo whose matting fails is kept
    /// without a matte (the failure is logged): the visit goes on as without a model.
    pub async fn process(self, bytes: Vec<u8>, opts: IntakeOptions) -> Result<Photo, IntakeError> {
        let _worker = self
            .pool
            .inner
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| IntakeError::Internal(e.to_string()))?;
        let matting = self.pool.inner.matting.clone();
        tokio::task::spawn_blocking(move || {
            let mut photo = process(&bytes, &opts)?;
            if let Some(matting) = matting {
                match matting(&photo.image) {
                    Ok(person) => {
                        photo.matte = person.matte;
                        photo.faces = Some(person.faces);
                    }
                    Err(e) => tracing::warn!("no matte for this photo: {e}"),
                }
            }
            Ok(photo)
        })
        .await
        .map_err(|e| IntakeError::Internal(format!("intake worker: {e}")))?
    }
}
