//! Tests of the SQLite store: the writer (group commit, atomicity,
//! durability), user scoping, and pagination.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use chatkit_actors::store::{
    AttachmentRow, ItemRow, Order, RowPage, Store, StoreConfig, StoreError, ThreadRow, WriteOp,
};
use tempfile::TempDir;

const ALICE: &str = "alice";
const BOB: &str = "bob";

fn open(dir: &TempDir) -> Result<Store> {
    Ok(Store::open(StoreConfig::new(dir.path().join("store.db")))?)
}

fn ts(second: u32) -> String {
    format!(
        "2025-06-01T09:{:02}:{:02}.000000Z",
        second / 60,
        second % 60
    )
}

fn thread(user_id: &str, id: &str, created_at: &str) -> ThreadRow {
    ThreadRow {
        id: id.into(),
        user_id: user_id.into(),
        created_at: created_at.into(),
        data: format!(r#"{{"id":"{id}"}}"#),
    }
}

fn item(thread_id: &str, id: &str, seq: i64, hidden: bool) -> ItemRow {
    ItemRow {
        id: id.into(),
        thread_id: thread_id.into(),
        seq,
        created_at: ts(0),
        item_type: "user_message".into(),
        hidden,
        data: format!(r#"{{"id":"{id}"}}"#),
    }
}

fn attachment(user_id: &str, id: &str, created_at: &str, data: &str) -> AttachmentRow {
    AttachmentRow {
        id: id.into(),
        user_id: user_id.into(),
        created_at: created_at.into(),
        declared_size: Some(42),
        data: data.into(),
    }
}

fn upsert_item(user_id: &str, item: ItemRow) -> WriteOp {
    WriteOp::UpsertItem {
        user_id: user_id.into(),
        item,
    }
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|r| id(r).to_owned()).collect()
}

#[tokio::test]
async fn threads_and_items_round_trip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let t = thread(ALICE, "thr_1", &ts(1));
    store
        .writer
        .write(vec![
            WriteOp::UpsertThread(t.clone()),
            upsert_item(ALICE, item("thr_1", "msg_1", 1, false)),
            upsert_item(ALICE, item("thr_1", "msg_2", 2, true)),
        ])
        .await?;

    assert_eq!(store.reads.load_thread(ALICE, "thr_1").await?, Some(t));
    assert_eq!(
        store.reads.load_item(ALICE, "thr_1", "msg_2").await?,
        Some(item("thr_1", "msg_2", 2, true))
    );
    assert_eq!(store.reads.max_seq("thr_1").await?, 2);
    assert_eq!(store.reads.max_seq("thr_none").await?, 0);

    // Updating the thread replaces its data, keeps its owner.
    let mut renamed = thread(ALICE, "thr_1", &ts(1));
    renamed.data = r#"{"title":"renamed"}"#.into();
    store
        .writer
        .write(vec![WriteOp::UpsertThread(renamed.clone())])
        .await?;
    assert_eq!(
        store.reads.load_thread(ALICE, "thr_1").await?,
        Some(renamed)
    );

    // Attachments.
    let att = attachment(ALICE, "atc_1", &ts(1), "{}");
    store
        .writer
        .write(vec![WriteOp::UpsertAttachment(att.clone())])
        .await?;
    assert_eq!(
        store.reads.load_attachment(ALICE, "atc_1").await?,
        Some(att)
    );
    store
        .writer
        .write(vec![WriteOp::DeleteAttachment {
            user_id: ALICE.into(),
            attachment_id: "atc_1".into(),
        }])
        .await?;
    assert_eq!(store.reads.load_attachment(ALICE, "atc_1").await?, None);
    Ok(())
}

#[tokio::test]
async fn upsert_item_keeps_position_and_replaces_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1))),
            upsert_item(ALICE, item("thr_1", "msg_a", 1, false)),
            upsert_item(ALICE, item("thr_1", "msg_b", 2, false)),
        ])
        .await?;

    let mut replaced = item("thr_1", "msg_a", 99, true);
    replaced.data = r#"{"text":"new"}"#.into();
    replaced.item_type = "assistant_message".into();
    replaced.created_at = ts(5);
    store
        .writer
        .write(vec![upsert_item(ALICE, replaced)])
        .await?;

    let got = store
        .reads
        .load_item(ALICE, "thr_1", "msg_a")
        .await?
        .unwrap();
    assert_eq!(got.seq, 1, "an upsert keeps the position");
    assert_eq!(got.data, r#"{"text":"new"}"#);
    assert_eq!(got.item_type, "assistant_message");
    assert!(got.hidden);
    assert_eq!(got.created_at, ts(5));

    let page = store
        .reads
        .list_items(ALICE, "thr_1", 10, None, Order::Asc, true)
        .await?;
    assert_eq!(ids(&page.rows, |r| &r.id), ["msg_a", "msg_b"]);

    // A non-positive seq appends.
    store
        .writer
        .write(vec![upsert_item(ALICE, item("thr_1", "msg_c", 0, false))])
        .await?;
    assert_eq!(
        store
            .reads
            .load_item(ALICE, "thr_1", "msg_c")
            .await?
            .unwrap()
            .seq,
        3
    );
    Ok(())
}

#[tokio::test]
async fn item_ids_are_scoped_per_thread() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let mut in_two = item("thr_2", "msg_same", 1, false);
    in_two.data = r#"{"thread":2}"#.into();
    store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1))),
            WriteOp::UpsertThread(thread(ALICE, "thr_2", &ts(2))),
            upsert_item(ALICE, item("thr_1", "msg_same", 1, false)),
            upsert_item(ALICE, in_two.clone()),
        ])
        .await?;
    assert_eq!(
        store.reads.load_item(ALICE, "thr_2", "msg_same").await?,
        Some(in_two)
    );
    assert_eq!(
        store.reads.load_item(ALICE, "thr_1", "msg_same").await?,
        Some(item("thr_1", "msg_same", 1, false))
    );
    Ok(())
}

#[tokio::test]
async fn users_never_see_or_touch_each_others_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_a", &ts(1))),
            upsert_item(ALICE, item("thr_a", "msg_1", 1, false)),
            WriteOp::UpsertThread(thread(BOB, "thr_b", &ts(2))),
            WriteOp::UpsertAttachment(attachment(ALICE, "atc_a", &ts(1), "{}")),
        ])
        .await?;

    // Reads: foreign is missing.
    assert_eq!(store.reads.load_thread(BOB, "thr_a").await?, None);
    assert_eq!(store.reads.load_item(BOB, "thr_a", "msg_1").await?, None);
    assert_eq!(store.reads.load_attachment(BOB, "atc_a").await?, None);
    assert!(
        store
            .reads
            .load_recent_items(BOB, "thr_a", 10)
            .await?
            .is_empty()
    );
    assert!(matches!(
        store
            .reads
            .list_items(BOB, "thr_a", 10, None, Order::Asc, true)
            .await,
        Err(StoreError::NotFound)
    ));
    let bobs = store.reads.list_threads(BOB, 10, None, Order::Asc).await?;
    assert_eq!(ids(&bobs.rows, |r| &r.id), ["thr_b"]);
    // As a cursor, a foreign thread is unknown.
    assert!(matches!(
        store
            .reads
            .list_threads(BOB, 10, Some("thr_a"), Order::Asc)
            .await,
        Err(StoreError::UnknownCursor)
    ));
    assert!(matches!(
        store
            .reads
            .list_threads(ALICE, 10, Some("thr_nope"), Order::Asc)
            .await,
        Err(StoreError::UnknownCursor)
    ));

    // Writes into a foreign thread: NotFound, nothing changed.
    for op in [
        WriteOp::UpsertThread(thread(BOB, "thr_a", &ts(9))),
        upsert_item(BOB, item("thr_a", "msg_x", 2, false)),
        upsert_item(BOB, item("thr_a", "msg_1", 1, true)),
        WriteOp::SaveFeedback {
            user_id: BOB.into(),
            thread_id: "thr_a".into(),
            item_ids: vec!["msg_1".into()],
            kind: "negative".into(),
            created_at: ts(3),
        },
        WriteOp::UpsertAttachment(attachment(BOB, "atc_a", &ts(1), "{\"stolen\":true}")),
        WriteOp::MarkAttachmentUploaded {
            user_id: BOB.into(),
            attachment_id: "atc_a".into(),
        },
        WriteOp::DeleteOrphanAttachment {
            user_id: BOB.into(),
            attachment_id: "atc_a".into(),
            created_before: ts(3000),
        },
    ] {
        let result = store.writer.write(vec![op]).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }
    // Deletes by another user: silently nothing.
    store
        .writer
        .write(vec![
            WriteOp::DeleteItem {
                user_id: BOB.into(),
                thread_id: "thr_a".into(),
                item_id: "msg_1".into(),
            },
            WriteOp::DeleteItemsFromSeq {
                user_id: BOB.into(),
                thread_id: "thr_a".into(),
                from_seq: 0,
            },
            WriteOp::DeleteThread {
                user_id: BOB.into(),
                thread_id: "thr_a".into(),
            },
            WriteOp::DeleteAttachment {
                user_id: BOB.into(),
                attachment_id: "atc_a".into(),
            },
        ])
        .await?;
    assert_eq!(
        store.reads.load_thread(ALICE, "thr_a").await?,
        Some(thread(ALICE, "thr_a", &ts(1)))
    );
    assert_eq!(
        store.reads.load_item(ALICE, "thr_a", "msg_1").await?,
        Some(item("thr_a", "msg_1", 1, false))
    );
    assert!(
        store
            .reads
            .load_item(ALICE, "thr_a", "msg_x")
            .await?
            .is_none()
    );
    assert_eq!(
        store
            .reads
            .load_attachment(ALICE, "atc_a")
            .await?
            .unwrap()
            .data,
        "{}"
    );
    assert!(store.reads.load_feedback(ALICE, "thr_a").await?.is_empty());
    Ok(())
}

/// Walks every page of a listing and returns the ids in order, checking
/// that each page before the last is full and no page is empty.
async fn walk_items(
    store: &Store,
    thread_id: &str,
    limit: usize,
    order: Order,
    include_hidden: bool,
) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let RowPage { rows, has_more } = store
            .reads
            .list_items(
                ALICE,
                thread_id,
                limit,
                after.as_deref(),
                order,
                include_hidden,
            )
            .await?;
        assert!(!rows.is_empty() || seen.is_empty(), "empty trailing page");
        assert!(rows.len() <= limit);
        if has_more {
            assert_eq!(rows.len(), limit, "a page with has_more is full");
        }
        seen.extend(rows.iter().map(|r| r.id.clone()));
        if !has_more {
            return Ok(seen);
        }
        after = rows.last().map(|r| r.id.clone());
    }
}

#[tokio::test]
async fn item_pagination_is_exhaustive_in_both_orders() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let mut ops = vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1)))];
    let mut all = Vec::new();
    // 25 items, every one with the same created_at (ties), inserted out of
    // seq order; items 3, 7, 11, ... and the first and last are hidden.
    let hidden = |i: i64| i % 4 == 3 || i == 1 || i == 25;
    for i in (1..=25).rev() {
        let id = format!("msg_{i:02}");
        ops.push(upsert_item(ALICE, item("thr_1", &id, i, hidden(i))));
    }
    for i in 1..=25 {
        all.push((format!("msg_{i:02}"), hidden(i)));
    }
    store.writer.write(ops).await?;

    let every: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
    let visible: Vec<String> = all
        .iter()
        .filter(|(_, h)| !h)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(visible.len(), 25 - 8);

    for limit in [1, 2, 3, 7, 100] {
        for include_hidden in [true, false] {
            let expected = if include_hidden { &every } else { &visible };
            let asc = walk_items(&store, "thr_1", limit, Order::Asc, include_hidden).await?;
            assert_eq!(&asc, expected, "asc limit {limit} hidden {include_hidden}");
            let mut desc = walk_items(&store, "thr_1", limit, Order::Desc, include_hidden).await?;
            desc.reverse();
            assert_eq!(
                &desc, expected,
                "desc limit {limit} hidden {include_hidden}"
            );
            let unique: HashSet<_> = asc.iter().collect();
            assert_eq!(unique.len(), asc.len(), "no duplicates");
        }
    }

    // A hidden item is no cursor for a client listing, but is one for an
    // internal listing; an unknown id is never one.
    assert!(matches!(
        store
            .reads
            .list_items(ALICE, "thr_1", 5, Some("msg_03"), Order::Asc, false)
            .await,
        Err(StoreError::UnknownCursor)
    ));
    let page = store
        .reads
        .list_items(ALICE, "thr_1", 2, Some("msg_03"), Order::Asc, true)
        .await?;
    assert_eq!(ids(&page.rows, |r| &r.id), ["msg_04", "msg_05"]);
    assert!(matches!(
        store
            .reads
            .list_items(ALICE, "thr_1", 5, Some("msg_99"), Order::Asc, true)
            .await,
        Err(StoreError::UnknownCursor)
    ));

    // Recent items: newest `limit`, hidden included, ascending.
    let recent = store.reads.load_recent_items(ALICE, "thr_1", 3).await?;
    assert_eq!(ids(&recent, |r| &r.id), ["msg_23", "msg_24", "msg_25"]);
    Ok(())
}

#[tokio::test]
async fn thread_pagination_breaks_created_at_ties() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    // 10 threads, created at three instants only; insertion order breaks
    // the ties. Bob's threads interleave and must never show.
    let mut ops = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10u32 {
        let id = format!("thr_{i}");
        ops.push(WriteOp::UpsertThread(thread(ALICE, &id, &ts(i / 4))));
        ops.push(WriteOp::UpsertThread(thread(
            BOB,
            &format!("bob_{i}"),
            &ts(i / 4),
        )));
        expected.push(id);
    }
    store.writer.write(ops).await?;

    for limit in [1, 2, 3, 7, 100] {
        for order in [Order::Asc, Order::Desc] {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .reads
                    .list_threads(ALICE, limit, after.as_deref(), order)
                    .await?;
                if page.has_more {
                    assert_eq!(page.rows.len(), limit);
                }
                seen.extend(ids(&page.rows, |r| &r.id));
                if !page.has_more {
                    break;
                }
                after = page.rows.last().map(|r| r.id.clone());
            }
            if order == Order::Desc {
                seen.reverse();
            }
            assert_eq!(seen, expected, "limit {limit} {order:?}");
        }
    }

    // Re-saving a thread does not move it (its insertion rank stays).
    store
        .writer
        .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_0", &ts(0)))])
        .await?;
    let first = store.reads.list_threads(ALICE, 1, None, Order::Asc).await?;
    assert_eq!(first.rows[0].id, "thr_0");
    Ok(())
}

#[tokio::test]
async fn concurrent_writers_are_group_committed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    store
        .writer
        .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1)))])
        .await?;

    let tasks: Vec<_> = (1..=200i64)
        .map(|i| {
            let writer = store.writer.clone();
            tokio::spawn(async move {
                writer
                    .write(vec![upsert_item(
                        ALICE,
                        item("thr_1", &format!("msg_{i}"), i, false),
                    )])
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    let all = store.reads.load_recent_items(ALICE, "thr_1", 1000).await?;
    assert_eq!(all.len(), 200);
    assert_eq!(store.reads.max_seq("thr_1").await?, 200);
    let stats = store.writer.stats();
    assert_eq!(stats.messages, 201);
    // 200 writers queued at once share commits (typically 2-4 batches).
    assert!(stats.batches < stats.messages, "no group commit: {stats:?}");
    Ok(())
}

#[tokio::test]
async fn a_failing_message_does_not_fail_its_batch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let store = Store::open(StoreConfig::new(&path))?;
    store
        .writer
        .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1)))])
        .await?;
    let before = store.writer.stats();

    // Hold the write lock from outside so the writer stalls on its first
    // message while the next three queue up behind it: they form one batch.
    let blocker = rusqlite::Connection::open(&path)?;
    blocker.execute_batch("BEGIN IMMEDIATE")?;

    let send = |ops: Vec<WriteOp>| {
        let writer = store.writer.clone();
        tokio::spawn(async move { writer.write(ops).await })
    };
    let first = send(vec![upsert_item(ALICE, item("thr_1", "msg_1", 1, false))]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let good = send(vec![upsert_item(ALICE, item("thr_1", "msg_2", 2, false))]);
    let bad = send(vec![upsert_item(
        ALICE,
        item("thr_missing", "msg_3", 1, false),
    )]);
    let also_good = send(vec![upsert_item(ALICE, item("thr_1", "msg_4", 4, false))]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute_batch("ROLLBACK")?;

    first.await??;
    good.await??;
    assert!(matches!(bad.await?, Err(StoreError::NotFound)));
    also_good.await??;

    let stored = store.reads.load_recent_items(ALICE, "thr_1", 10).await?;
    assert_eq!(ids(&stored, |r| &r.id), ["msg_1", "msg_2", "msg_4"]);
    let after = store.writer.stats();
    assert_eq!(after.messages - before.messages, 4);
    assert_eq!(
        after.batches - before.batches,
        2,
        "the three queued messages shared one commit: {before:?} -> {after:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_write_is_all_or_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let result = store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1))),
            upsert_item(ALICE, item("thr_missing", "msg_1", 1, false)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)));
    assert_eq!(store.reads.load_thread(ALICE, "thr_1").await?, None);

    // A constraint failure (two items at one position) rolls back too.
    let result = store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_2", &ts(1))),
            upsert_item(ALICE, item("thr_2", "msg_1", 1, false)),
            upsert_item(ALICE, item("thr_2", "msg_2", 1, false)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Sqlite(_))), "{result:?}");
    assert_eq!(store.reads.load_thread(ALICE, "thr_2").await?, None);
    Ok(())
}

#[tokio::test]
async fn data_survives_shutdown_and_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let store = open(&dir)?;
        store
            .writer
            .write(vec![
                WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1))),
                upsert_item(ALICE, item("thr_1", "msg_1", 1, false)),
            ])
            .await?;
        store.writer.shutdown().await;
        store.writer.shutdown().await; // idempotent
        let late = store
            .writer
            .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_2", &ts(2)))])
            .await;
        assert!(matches!(late, Err(StoreError::Closed)));
    }
    let store = open(&dir)?;
    assert!(store.reads.load_thread(ALICE, "thr_1").await?.is_some());
    assert!(store.reads.load_thread(ALICE, "thr_2").await?.is_none());
    assert_eq!(
        store.reads.load_item(ALICE, "thr_1", "msg_1").await?,
        Some(item("thr_1", "msg_1", 1, false))
    );
    Ok(())
}

#[tokio::test]
async fn delete_thread_cascades_and_retry_truncates() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let mut ops = vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1)))];
    for i in 1..=6 {
        ops.push(upsert_item(
            ALICE,
            item("thr_1", &format!("msg_{i}"), i, i == 5),
        ));
    }
    ops.push(WriteOp::SaveFeedback {
        user_id: ALICE.into(),
        thread_id: "thr_1".into(),
        item_ids: vec!["msg_2".into(), "msg_5".into()],
        kind: "positive".into(),
        created_at: ts(2),
    });
    store.writer.write(ops).await?;
    // Feedback is an upsert per item.
    store
        .writer
        .write(vec![WriteOp::SaveFeedback {
            user_id: ALICE.into(),
            thread_id: "thr_1".into(),
            item_ids: vec!["msg_2".into()],
            kind: "negative".into(),
            created_at: ts(3),
        }])
        .await?;
    let feedback = store.reads.load_feedback(ALICE, "thr_1").await?;
    let kinds: Vec<_> = feedback
        .iter()
        .map(|f| (f.item_id.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(kinds, [("msg_5", "positive"), ("msg_2", "negative")]);

    // Retry after msg_3: everything from seq 4 goes, hidden included, and
    // the feedback on those items with it.
    store
        .writer
        .write(vec![WriteOp::DeleteItemsFromSeq {
            user_id: ALICE.into(),
            thread_id: "thr_1".into(),
            from_seq: 4,
        }])
        .await?;
    let left = store.reads.load_recent_items(ALICE, "thr_1", 100).await?;
    assert_eq!(ids(&left, |r| &r.id), ["msg_1", "msg_2", "msg_3"]);
    let feedback = store.reads.load_feedback(ALICE, "thr_1").await?;
    assert_eq!(ids(&feedback, |f| &f.item_id), ["msg_2"]);

    // Delete one item; deleting it again is fine.
    for _ in 0..2 {
        store
            .writer
            .write(vec![WriteOp::DeleteItem {
                user_id: ALICE.into(),
                thread_id: "thr_1".into(),
                item_id: "msg_2".into(),
            }])
            .await?;
    }
    assert!(store.reads.load_feedback(ALICE, "thr_1").await?.is_empty());

    // Delete the thread: items go with it; deleting again is fine.
    for _ in 0..2 {
        store
            .writer
            .write(vec![WriteOp::DeleteThread {
                user_id: ALICE.into(),
                thread_id: "thr_1".into(),
            }])
            .await?;
    }
    assert_eq!(store.reads.load_thread(ALICE, "thr_1").await?, None);
    assert_eq!(store.reads.max_seq("thr_1").await?, 0);
    assert!(
        store
            .reads
            .load_item(ALICE, "thr_1", "msg_1")
            .await?
            .is_none()
    );

    // A new thread with the same id starts empty.
    store
        .writer
        .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(9)))])
        .await?;
    let page = store
        .reads
        .list_items(ALICE, "thr_1", 10, None, Order::Asc, true)
        .await?;
    assert!(page.rows.is_empty() && !page.has_more);
    Ok(())
}

#[tokio::test]
async fn readers_are_not_blocked_by_a_busy_writer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let store = Store::open(StoreConfig::new(&path))?;
    store
        .writer
        .write(vec![
            WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1))),
            upsert_item(ALICE, item("thr_1", "msg_1", 1, false)),
        ])
        .await?;

    // Another connection holds the write lock with uncommitted changes; the
    // store's writer is stuck behind it.
    let blocker = rusqlite::Connection::open(&path)?;
    blocker.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE threads SET data = '{\"uncommitted\":true}' WHERE id = 'thr_1';",
    )?;
    let writer = store.writer.clone();
    let pending = tokio::spawn(async move {
        writer
            .write(vec![upsert_item(ALICE, item("thr_1", "msg_2", 2, false))])
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Reads answer at once, from the last committed state.
    let started = Instant::now();
    for _ in 0..20 {
        let t = store.reads.load_thread(ALICE, "thr_1").await?.unwrap();
        assert_eq!(t.data, thread(ALICE, "thr_1", &ts(1)).data);
        let page = store
            .reads
            .list_items(ALICE, "thr_1", 10, None, Order::Asc, false)
            .await?;
        assert_eq!(ids(&page.rows, |r| &r.id), ["msg_1"]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "reads waited for the writer: {:?}",
        started.elapsed()
    );
    assert!(!pending.is_finished(), "the writer is still blocked");

    blocker.execute_batch("ROLLBACK")?;
    pending.await??;
    assert!(
        store
            .reads
            .load_item(ALICE, "thr_1", "msg_2")
            .await?
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_commits_what_is_queued_and_every_ack_is_on_disk() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.db");
    let store = Store::open(StoreConfig::new(&path))?;
    store
        .writer
        .write(vec![WriteOp::UpsertThread(thread(ALICE, "thr_1", &ts(1)))])
        .await?;

    // Writers racing the shutdown: each either lands (Ok) or is refused
    // (Closed); nothing else.
    let tasks: Vec<_> = (1..=50i64)
        .map(|i| {
            let writer = store.writer.clone();
            tokio::spawn(async move {
                let op = upsert_item(ALICE, item("thr_1", &format!("msg_{i}"), i, false));
                (i, writer.write(vec![op]).await)
            })
        })
        .collect();
    tokio::task::yield_now().await;
    store.writer.shutdown().await;
    let mut acknowledged = Vec::new();
    for task in tasks {
        match task.await? {
            (i, Ok(())) => acknowledged.push(format!("msg_{i}")),
            (_, Err(StoreError::Closed)) => {}
            (i, Err(err)) => panic!("write {i}: {err}"),
        }
    }
    // The WAL was checkpointed into the database file: truncated, or
    // removed by the close.
    let wal = dir.path().join("store.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal)?.len() == 0);
    // The read pool outlives the writer.
    let reread = store.reads.load_recent_items(ALICE, "thr_1", 100).await?;
    assert_eq!(reread.len(), acknowledged.len());
    drop(store);

    let store = Store::open(StoreConfig::new(&path))?;
    let stored = store.reads.load_recent_items(ALICE, "thr_1", 100).await?;
    let stored: HashSet<String> = stored.into_iter().map(|r| r.id).collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "{id} was acknowledged but is not stored"
        );
    }
    Ok(())
}

#[tokio::test]
async fn attachment_records_bind_finish_and_age() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(&dir)?;
    let descriptor = r#"{"id":"atc_old","upload_descriptor":{"url":"u","method":"POST","headers":{}},"type":"file"}"#;
    store
        .writer
        .write(vec![
            WriteOp::UpsertAttachment(attachment(ALICE, "atc_old", &ts(1), descriptor)),
            WriteOp::UpsertAttachment(attachment(ALICE, "atc_bound", &ts(2), "{}")),
            WriteOp::UpsertAttachment(attachment(BOB, "atc_new", &ts(100), "{}")),
        ])
        .await?;

    // An upsert replaces the data only: creation time and size stay.
    let mut later = attachment(ALICE, "atc_bound", &ts(99), "{}");
    later.declared_size = None;
    store
        .writer
        .write(vec![WriteOp::UpsertAttachment(later)])
        .await?;
    let row = store
        .reads
        .load_attachment(ALICE, "atc_bound")
        .await?
        .unwrap();
    assert_eq!((row.created_at, row.declared_size), (ts(2), Some(42)));

    // Binding sets thread_id and nothing else, and never recreates.
    let bind = |id: &str| WriteOp::BindAttachment {
        user_id: ALICE.into(),
        attachment_id: id.into(),
        thread_id: "thr_1".into(),
    };
    store
        .writer
        .write(vec![bind("atc_bound"), bind("atc_gone")])
        .await?;
    let bound = store.reads.load_attachment(ALICE, "atc_bound").await?;
    assert_eq!(bound.unwrap().data, r#"{"thread_id":"thr_1"}"#);
    assert_eq!(store.reads.load_attachment(ALICE, "atc_gone").await?, None);

    // A finished upload drops the descriptor; a missing record is NotFound.
    let mark_uploaded = |id: &str| {
        store.writer.write(vec![WriteOp::MarkAttachmentUploaded {
            user_id: ALICE.into(),
            attachment_id: id.into(),
        }])
    };
    mark_uploaded("atc_old").await?;
    let row = store
        .reads
        .load_attachment(ALICE, "atc_old")
        .await?
        .unwrap();
    assert_eq!(row.data, r#"{"id":"atc_old","type":"file"}"#);
    let missing = mark_uploaded("atc_gone").await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    // Orphans: unbound and older than the cut, across users, oldest first.
    let orphans = store.reads.orphan_attachments(&ts(200), 10).await?;
    assert_eq!(ids(&orphans, |r| &r.id), ["atc_old", "atc_new"]);
    let orphans = store.reads.orphan_attachments(&ts(50), 10).await?;
    assert_eq!(ids(&orphans, |r| &r.id), ["atc_old"]);
    assert_eq!(store.reads.orphan_attachments(&ts(200), 1).await?.len(), 1);

    // The delete re-checks both conditions.
    for (id, user) in [("atc_bound", ALICE), ("atc_new", BOB)] {
        let kept = store
            .writer
            .write(vec![WriteOp::DeleteOrphanAttachment {
                user_id: user.into(),
                attachment_id: id.into(),
                created_before: ts(50),
            }])
            .await;
        assert!(matches!(kept, Err(StoreError::NotFound)), "{id}: {kept:?}");
        assert!(store.reads.load_attachment(user, id).await?.is_some());
    }
    store
        .writer
        .write(vec![WriteOp::DeleteOrphanAttachment {
            user_id: ALICE.into(),
            attachment_id: "atc_old".into(),
            created_before: ts(50),
        }])
        .await?;
    assert_eq!(store.reads.load_attachment(ALICE, "atc_old").await?, None);
    Ok(())
}
