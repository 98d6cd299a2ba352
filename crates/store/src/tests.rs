use super::*;
use crate::stats::quantile;

fn room(id: &str) -> Room {
    Room {
        id: id.into(),
        kiosk_token_hash: "k".into(),
        join_secret: Some("s".into()),
        visit_id: None,
        created_at: 1,
    }
}

fn id() -> String {
    articket_rooms::new_id()
}

/// A joined visit whose Picasso finished (a.jpg) and whose Renoir failed.
fn painted_visit(store: &Store) -> (String, String) {
    let (r, v) = (id(), id());
    store.create_room(&room(&r)).unwrap();
    store.join_room(&r, &v, "p", 2).unwrap();
    store
        .start_painting(
            &v,
            "n",
            "photo.jpg",
            &[Painter::Picasso, Painter::Renoir],
            3,
        )
        .unwrap();
    store
        .result_finished(&v, Painter::Picasso, Ok("a.jpg"), 4)
        .unwrap();
    store
        .result_finished(&v, Painter::Renoir, Err("boom"), 4)
        .unwrap();
    (r, v)
}

#[test]
fn opening_creates_a_wal_database_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let conn = store.conn();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(version, schema::VERSION);
    assert!(dir.path().join("articket.sqlite3").exists());
}

#[test]
fn a_room_takes_exactly_one_phone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = id();
    store.create_room(&room(&r)).unwrap();
    let first = id();
    store.join_room(&r, &first, "p1", 2).unwrap();
    assert!(matches!(
        store.join_room(&r, &id(), "p2", 3),
        Err(StoreError::RoomTaken)
    ));
    assert!(matches!(
        store.join_room(&id(), &id(), "p3", 3),
        Err(StoreError::NoSuchRoom)
    ));
    assert_eq!(
        store.room(&r).unwrap().unwrap().visit_id.as_deref(),
        Some(first.as_str())
    );
}

#[test]
fn a_visit_runs_from_waiting_to_done_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (r, v) = (id(), id());
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_room(&room(&r)).unwrap();
        store.join_room(&r, &v, "p", 2).unwrap();
        assert_eq!(
            store.visit(&v).unwrap().unwrap().status,
            VisitStatus::Waiting
        );
        store
            .start_painting(
                &v,
                "김민지",
                "photo.jpg",
                &[Painter::Picasso, Painter::Renoir],
                3,
            )
            .unwrap();
        assert!(matches!(
            store.start_painting(&v, "again", "x.jpg", &[Painter::Picasso], 4),
            Err(StoreError::PhotoAlreadyReceived)
        ));
        assert_eq!(store.unfinished_visits().unwrap(), vec![v.clone()]);
        store.result_started(&v, Painter::Picasso, 1, 4).unwrap();
        store
            .result_finished(&v, Painter::Picasso, Ok("a.jpg"), 5)
            .unwrap();
        store.result_started(&v, Painter::Renoir, 1, 4).unwrap();
        store
            .result_retry_at(&v, Painter::Renoir, "busy", 60, 4)
            .unwrap();
        let queued = &store.visit(&v).unwrap().unwrap().results[1];
        assert_eq!(
            (
                queued.status,
                queued.attempts,
                queued.next_try_at,
                queued.error.as_deref()
            ),
            (ResultStatus::Queued, 1, Some(60), Some("busy")),
            "a failed try waits queued for its next, durably"
        );
        store.result_started(&v, Painter::Renoir, 2, 5).unwrap();
        store
            .result_finished(&v, Painter::Renoir, Err("boom"), 6)
            .unwrap();
        assert_eq!(
            store.painting_finished(&v, Some("t.png"), 7).unwrap(),
            VisitStatus::Done
        );
    }
    let store = Store::open(dir.path()).unwrap();
    let visit = store.visit(&v).unwrap().unwrap();
    assert_eq!(visit.status, VisitStatus::Done);
    assert_eq!(visit.name.as_deref(), Some("김민지"));
    assert_eq!(visit.ticket_file.as_deref(), Some("t.png"));
    let r: Vec<_> = visit
        .results
        .iter()
        .map(|r| (r.painter, r.status, r.attempts))
        .collect();
    assert_eq!(
        r,
        vec![
            (Painter::Picasso, ResultStatus::Done, 1),
            (Painter::Renoir, ResultStatus::Failed, 2)
        ]
    );
    assert_eq!(visit.results[1].error.as_deref(), Some("boom"));
    assert_eq!(visit.number, 1, "the first visit is No. 1");
    assert!(store.unfinished_visits().unwrap().is_empty());
}

#[test]
fn files_are_written_whole_under_random_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = store.files().put(b"jpeg bytes", FileKind::Jpeg).unwrap();
    assert_eq!(FileKind::of_name(&name), Some(FileKind::Jpeg));
    assert_eq!(store.files().read(&name).unwrap(), b"jpeg bytes");
    let leftovers: Vec<_> = std::fs::read_dir(store.files().dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, vec![name]);
}

#[test]
fn only_our_own_file_names_resolve_to_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for bad in [
        "../articket.sqlite3",
        "..%2farticket.sqlite3",
        "0123456789abcdef0123456789abcdef.sqlite3",
        "0123456789abcdef0123456789abcdef",
        "/etc/passwd",
        "0123456789abcdef0123456789abcdef.jpg/..",
    ] {
        assert!(store.files().path(bad).is_none(), "{bad}");
    }
    assert!(store
        .files()
        .path("0123456789abcdef0123456789abcdef.png")
        .is_some());
}

#[test]
fn temp_files_left_by_a_crash_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/.tmp-abc"), b"half").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(store.files().dir()).unwrap().count(), 0);
}

#[test]
fn only_a_failed_painter_of_a_finished_visit_can_be_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, v) = painted_visit(&store);
    // Still painting: no retry yet.
    assert!(!store.retry_painter(&v, Painter::Renoir, 5).unwrap());
    store.painting_finished(&v, Some("t.png"), 6).unwrap();
    // A painter that succeeded, or one the visit does not have, is left alone.
    assert!(!store.retry_painter(&v, Painter::Picasso, 7).unwrap());
    assert!(!store.retry_painter(&v, Painter::VanGogh, 7).unwrap());
    assert!(store.retry_painter(&v, Painter::Renoir, 7).unwrap());
    let visit = store.visit(&v).unwrap().unwrap();
    assert_eq!(visit.status, VisitStatus::Painting);
    assert_eq!(visit.results[1].status, ResultStatus::Queued);
    assert_eq!(visit.results[1].error, None);
    assert_eq!(visit.results[0].status, ResultStatus::Done);
    // Once queued again it cannot be queued twice.
    assert!(!store.retry_painter(&v, Painter::Renoir, 8).unwrap());
    assert_eq!(store.unfinished_visits().unwrap(), vec![v]);
}

#[test]
fn prints_are_deduplicated_limited_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (r, v) = (id(), id());
    store.create_room(&room(&r)).unwrap();
    store.join_room(&r, &v, "p", 2).unwrap();
    let PrintStart::Started(first) = store.begin_print(&v, 2, 10, 100).unwrap() else {
        panic!("the first print starts")
    };
    // A second press while it prints, or just after, is the same print.
    assert_eq!(
        store.begin_print(&v, 2, 10, 101).unwrap(),
        PrintStart::AlreadyPrinting(first)
    );
    store.finish_print(first, Ok(())).unwrap();
    assert_eq!(
        store.begin_print(&v, 2, 10, 105).unwrap(),
        PrintStart::AlreadyPrinting(first)
    );
    // Later, a second copy is allowed; a failure does not use up the allowance.
    let PrintStart::Started(second) = store.begin_print(&v, 2, 10, 200).unwrap() else {
        panic!()
    };
    store.finish_print(second, Err("lp: paper out")).unwrap();
    let PrintStart::Started(third) = store.begin_print(&v, 2, 10, 201).unwrap() else {
        panic!()
    };
    store.finish_print(third, Ok(())).unwrap();
    assert_eq!(
        store.begin_print(&v, 2, 10, 400).unwrap(),
        PrintStart::LimitReached(2)
    );
    let (log, printed, failed) = store.print_log(10).unwrap();
    assert_eq!((printed, failed), (2, 1));
    assert_eq!(log[1].message.as_deref(), Some("lp: paper out"));
    assert_eq!(log[0].visit_number, 1);
}

#[test]
fn deleting_a_visit_removes_its_rows_and_names_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (r, v) = painted_visit(&store);
    store.painting_finished(&v, Some("t.png"), 5).unwrap();
    store.begin_print(&v, 2, 10, 6).unwrap();
    // An old room that never got a visit, and a fresh one.
    let (old, fresh) = (id(), id());
    store
        .create_room(&Room {
            created_at: 0,
            ..room(&old)
        })
        .unwrap();
    store
        .create_room(&Room {
            created_at: 100,
            ..room(&fresh)
        })
        .unwrap();
    assert!(
        store.expired_visits(1).unwrap().is_empty(),
        "the visit was created at 2"
    );
    assert!(
        store.room(&old).unwrap().is_none(),
        "the empty old room is gone"
    );
    assert!(store.room(&fresh).unwrap().is_some());
    assert_eq!(store.expired_visits(3).unwrap(), vec![v.clone()]);
    assert!(store.set_matte(&v, "m.png").unwrap());
    assert!(
        !store.set_matte(&v, "other.png").unwrap(),
        "a visit keeps its first matte"
    );
    assert_eq!(
        store.visit(&v).unwrap().unwrap().matte_file.as_deref(),
        Some("m.png")
    );
    let mut files = store.delete_visit(&v).unwrap();
    files.sort();
    assert_eq!(files, ["a.jpg", "m.png", "photo.jpg", "t.png"]);
    assert!(store.visit(&v).unwrap().is_none());
    assert!(store.room(&r).unwrap().is_none());
    assert!(
        store.delete_visit(&v).unwrap().is_empty(),
        "deleting twice is harmless"
    );
}

#[test]
fn day_stats_count_only_visits_since_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Yesterday's visit (created at 2) is not counted from 3 on.
    painted_visit(&store);
    let (r, v) = (id(), id());
    store.create_room(&room(&r)).unwrap();
    store.join_room(&r, &v, "p", 10).unwrap();
    store
        .start_painting(
            &v,
            "n",
            "photo.jpg",
            &[Painter::Picasso, Painter::Renoir, Painter::VanGogh],
            10,
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(30));
    store
        .result_finished(&v, Painter::Picasso, Ok("a.jpg"), 11)
        .unwrap();
    store
        .result_finished(&v, Painter::Renoir, Ok("b.jpg"), 11)
        .unwrap();
    store
        .result_finished(&v, Painter::VanGogh, Err("x"), 11)
        .unwrap();
    assert!(matches!(
        store.ticket_saved(&v),
        Err(StoreError::NoSuchVisit)
    ));
    store.painting_finished(&v, Some("t.png"), 12).unwrap();
    store.ticket_saved(&v).unwrap();
    store.ticket_saved(&v).unwrap();
    let PrintStart::Started(p) = store.begin_print(&v, 1, 10, 13).unwrap() else {
        panic!()
    };
    store.finish_print(p, Ok(())).unwrap();

    let day = store.day_stats(3).unwrap();
    assert_eq!(day.visits, 1);
    assert_eq!(
        day.painters,
        vec![
            (Painter::Picasso, 1, 0),
            (Painter::Renoir, 1, 0),
            (Painter::VanGogh, 0, 1)
        ]
    );
    let median = day.latency_median_ms.unwrap();
    assert!((30..5_000).contains(&median), "{median} ms");
    assert!(day.latency_p95_ms.unwrap() >= median);
    assert_eq!((day.tickets, day.tickets_saved), (1, 2));
    assert_eq!((day.printed, day.print_failed), (1, 0));

    let all = store.day_stats(0).unwrap();
    assert_eq!(all.visits, 2);
    assert_eq!(all.painters[0], (Painter::Picasso, 2, 0));

    let recent = store.recent_paintings(10).unwrap();
    let files: Vec<_> = recent.iter().map(|p| p.image_file.as_str()).collect();
    assert_eq!(files.len(), 3);
    assert!(files.contains(&"b.jpg"));
    assert_eq!(store.recent_paintings(1).unwrap().len(), 1);

    // Deleting the visit (its photos and rows) leaves the day's counts as they were,
    // and the archive holds nothing that names it.
    store.delete_visit(&v).unwrap();
    assert!(store.visit(&v).unwrap().is_none());
    assert_eq!(store.day_stats(3).unwrap(), day);
    assert_eq!(store.day_stats(0).unwrap(), all);
    let archived: String = store
        .conn()
        .query_row(
            "SELECT group_concat(name) FROM pragma_table_info('archived_results')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(archived, "created_at,painter,position,status,latency_ms");
    // A week past the retention cutoff, the anonymous history goes too.
    store.expired_visits(10 + 8 * 24 * 3600).unwrap();
    assert_eq!(store.day_stats(3).unwrap().visits, 0);
}

#[test]
fn a_quiz_visit_keeps_its_answers_and_its_type_is_set_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, v) = painted_visit(&store);
    assert_eq!(store.visit(&v).unwrap().unwrap().mode, VisitMode::Convert);
    assert!(
        !store.record_answers(&v, "ab", None).unwrap(),
        "a converting visit takes no answers"
    );
    store.set_quiz_mode(&v).unwrap();
    let visit = store.visit(&v).unwrap().unwrap();
    assert_eq!(
        (visit.mode, visit.answers.as_deref()),
        (VisitMode::Quiz, Some(""))
    );
    assert!(store.record_answers(&v, "abb", None).unwrap());
    assert!(store.record_answers(&v, "abbaabba", Some("ENTJ")).unwrap());
    assert!(
        !store.record_answers(&v, "bbbbbbbb", Some("ISFP")).unwrap(),
        "a finished quiz stays as it was"
    );
    let visit = store.visit(&v).unwrap().unwrap();
    assert_eq!(visit.answers.as_deref(), Some("abbaabba"));
    assert_eq!(visit.personality.as_deref(), Some("ENTJ"));
    assert!(matches!(
        store.set_quiz_mode(&id()),
        Err(StoreError::NoSuchVisit)
    ));
}

#[test]
fn a_painting_or_ticket_for_a_deleted_visit_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (r, v) = (id(), id());
    store.create_room(&room(&r)).unwrap();
    store.join_room(&r, &v, "p", 2).unwrap();
    store
        .start_painting(
            &v,
            "n",
            "photo.jpg",
            &[Painter::Picasso, Painter::Renoir],
            3,
        )
        .unwrap();
    let kept = store
        .put_painting(&v, Painter::Picasso, b"jpeg", 4)
        .unwrap();
    assert!(store.files().path(&kept).unwrap().exists());
    store.delete_visit(&v).unwrap();
    let files = || std::fs::read_dir(store.files().dir()).unwrap().count();
    let before = files();
    assert!(matches!(
        store.put_painting(&v, Painter::Renoir, b"jpeg", 5),
        Err(StoreError::NoSuchVisit)
    ));
    let ticket = store.files().put(b"png", FileKind::Png).unwrap();
    assert!(matches!(
        store.painting_finished(&v, Some(&ticket), 6),
        Err(StoreError::NoSuchVisit)
    ));
    assert_eq!(files(), before, "no file outlives its visit");
    assert!(!store.files().path(&ticket).unwrap().exists());
}

#[test]
fn only_visits_that_agreed_are_in_the_showcase_and_leave_it_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (_, shy) = painted_visit(&store);
    let (_, keen) = painted_visit(&store);
    // Nobody is shown unless they agreed.
    assert!(!store.visit(&keen).unwrap().unwrap().on_screen);
    assert!(store.showcase(10).unwrap().is_empty());
    store.set_on_screen(&keen, true).unwrap();
    assert!(store.visit(&keen).unwrap().unwrap().on_screen);
    let shown = store.showcase(10).unwrap();
    // Only the finished painting (Picasso's; Renoir's failed) of the visit that agreed.
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].painter, Painter::Picasso);
    assert_eq!(
        shown[0].visit_number,
        store.visit(&keen).unwrap().unwrap().number
    );
    assert!(!store.visit(&shy).unwrap().unwrap().on_screen);
    // Changing one's mind, or deleting the visit, takes the paintings out.
    store.set_on_screen(&keen, false).unwrap();
    assert!(store.showcase(10).unwrap().is_empty());
    store.set_on_screen(&keen, true).unwrap();
    store.delete_visit(&keen).unwrap();
    assert!(store.showcase(10).unwrap().is_empty());
    assert!(matches!(
        store.set_on_screen(&keen, true),
        Err(StoreError::NoSuchVisit)
    ));
}

#[test]
fn hourly_stats_split_the_day_into_hours_and_keep_deleted_visits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let day = 1_000_000;
    let visit_at = |t: i64, done: &[Painter]| {
        let (r, v) = (id(), id());
        store.create_room(&room(&r)).unwrap();
        store.join_room(&r, &v, "p", t).unwrap();
        store
            .start_painting(&v, "n", "photo.jpg", &Painter::ALL, t)
            .unwrap();
        for &p in done {
            store.result_finished(&v, p, Ok("a.jpg"), t).unwrap();
        }
        v
    };
    visit_at(day - 10, &[Painter::Picasso]); // yesterday
    visit_at(day + 5, &[Painter::Picasso, Painter::Renoir]);
    let gone = visit_at(day + 2 * 3600 + 1, &[Painter::VanGogh]);
    visit_at(day + 3 * 3600 - 1, &[]);
    store.delete_visit(&gone).unwrap();
    let hours = store.hourly_stats(day, 24).unwrap();
    assert_eq!(hours.len(), 24);
    let visits: Vec<u64> = hours.iter().map(|h| h.visits).collect();
    assert_eq!(&visits[..4], &[1, 0, 2, 0]);
    assert_eq!(visits.iter().sum::<u64>(), 3);
    assert_eq!(hours[0].hour, 0);
    assert_eq!(hours[23].hour, 23);
    // Two paintings in hour 0, one (of the deleted visit) in hour 2, none elsewhere.
    assert!(hours[0].latency_median_ms.is_some());
    assert!(hours[0].latency_p95_ms >= hours[0].latency_median_ms);
    assert!(hours[2].latency_median_ms.is_some());
    assert_eq!(hours[1].latency_median_ms, None);
    assert_eq!(hours[3].latency_p95_ms, None);
}

#[test]
fn quantiles_are_nearest_rank() {
    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&[7], 0.95), Some(7));
    let v: Vec<i64> = (1..=100).collect();
    assert_eq!(quantile(&v, 0.5), Some(51));
    assert_eq!(quantile(&v, 0.95), Some(95));
}

/// A visit's number is never given twice: not after deleting the newest visit, not
/// after reopening the store, and a store from before numbers were counted keeps its
/// visits' numbers and goes on from the highest.
#[test]
fn visit_numbers_are_never_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let joined = |store: &Store| {
        let (r, v) = (id(), id());
        store.create_room(&room(&r)).unwrap();
        store.join_room(&r, &v, "p", 2).unwrap();
        let number = store.visit(&v).unwrap().unwrap().number;
        (v, number)
    };
    {
        let store = Store::open(dir.path()).unwrap();
        let numbers: Vec<i64> = (0..3).map(|_| joined(&store).1).collect();
        assert_eq!(numbers, [1, 2, 3]);
        let (newest, four) = joined(&store);
        assert_eq!(four, 4);
        store.delete_visit(&newest).unwrap();
        assert_eq!(
            joined(&store).1,
            5,
            "the deleted newest visit's number stays gone"
        );
        assert_eq!(store.visit_by_number(4).unwrap(), None);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(joined(&store).1, 6, "and after reopening");

    // A store written before schema 8: numbers were rowids.
    let old = tempfile::tempdir().unwrap();
    {
        let mut conn = rusqlite::Connection::open(old.path().join("articket.sqlite3")).unwrap();
        schema::migrate_to(&mut conn, 7).unwrap();
        for (i, v) in ["a", "b", "c"].iter().enumerate() {
            conn.execute(
                "INSERT INTO rooms (id, kiosk_token_hash, created_at) VALUES (?1, 'k', 1)",
                [format!("room-{v}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO visits (rowid, id, room_id, participant_token_hash, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'p', 'waiting', 1, 1)",
                rusqlite::params![(i * 2 + 1) as i64, format!("visit-{v}"), format!("room-{v}")],
            )
            .unwrap();
        }
    }
    let store = Store::open(old.path()).unwrap();
    assert_eq!(store.visit("visit-c").unwrap().unwrap().number, 5);
    assert_eq!(
        store.visit_by_number(3).unwrap().map(|(v, _)| v).as_deref(),
        Some("visit-b")
    );
    assert_eq!(joined(&store).1, 6);
}

/// One booth per data folder: a second store on the same folder is refused, naming the
/// process that holds it, until the first is closed; a read-only store may look on.
#[test]
fn a_data_folder_holds_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let refused = Store::open(dir.path()).err().expect("refused");
    let text = refused.to_string();
    assert!(matches!(refused, StoreError::InUse { .. }), "{text}");
    assert!(
        text.contains(&format!("process {}", std::process::id())) && text.contains("--data-dir"),
        "{text}"
    );
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.counts().unwrap().visits, Vec::new());
    drop(first);
    let second = Store::open(dir.path()).expect("free again once the first is closed");
    second.release();
    Store::open(dir.path()).expect("free once released, though the second is still open");
}

/// A data folder that cannot be made is named, with the fix. (A file stands where a
/// folder should be: unlike permissions, that stops root too.)
#[test]
fn a_data_folder_that_cannot_be_made_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("data")).err().expect("refused");
    let text = err.to_string();
    assert!(matches!(err, StoreError::DataDir { .. }), "{text}");
    assert!(
        text.contains("not-a-folder/data")
            && text.contains("write access")
            && text.contains("--data-dir"),
        "{text}"
    );
}
