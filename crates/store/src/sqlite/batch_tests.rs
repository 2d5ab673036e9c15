//! The batch's failure path on an in-memory database: who is re-run, how
//! often, what is left, and when each caller is answered.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

type Answer = oneshot::Receiver<Outcome<()>>;

/// What a test job does after inserting its row.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Succeed,
    Fail,
    Panic,
}

fn connection() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .unwrap();
    control(&conn, "BEGIN IMMEDIATE").unwrap();
    conn
}

/// A job that inserts row `id`, then does as told, counting its runs.
fn job(id: i64, then: Then, runs: &Arc<AtomicUsize>) -> (Box<dyn BatchedJob>, Answer) {
    let runs = runs.clone();
    let (answer, answered) = oneshot::channel();
    let f = move |conn: &Connection| {
        runs.fetch_add(1, Ordering::Relaxed);
        conn.execute("INSERT INTO t (id) VALUES (?1)", [id])
            .map_err(super::super::map_err)?;
        match then {
            Then::Succeed => Ok(()),
            Then::Fail => Err(StoreError::Conflict),
            Then::Panic => panic!("job {id} panics"),
        }
    };
    (Box::new(Job::new(f, answer)), answered)
}

/// What a caller was told: `None` for a panic re-raised on its task.
type Told = Option<Result<(), StoreError>>;

fn told(answer: &mut Answer) -> Option<Told> {
    answer.try_recv().ok().map(Result::ok)
}

/// Applies jobs doing `plan` as one batch and commits; answers the rows
/// left, each job's run count and what each caller was told.
fn commit(plan: &[Then]) -> (Vec<i64>, Vec<usize>, Vec<Told>) {
    let conn = connection();
    let runs: Vec<_> = plan.iter().map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let (mut batch, mut answers): (Vec<_>, Vec<_>) = plan
        .iter()
        .zip(&runs)
        .zip(0..)
        .map(|((then, runs), id)| job(id, *then, runs))
        .unzip();
    let answered = apply_batch(&conn, &mut batch).expect("a transaction is open");
    assert_eq!(answered.len(), plan.len());
    for (id, answer) in answers.iter_mut().enumerate() {
        assert_eq!(told(answer), None, "job {id} answered before COMMIT");
    }
    control(&conn, "COMMIT").unwrap();
    for job in answered {
        job.complete(Ok(()));
    }
    let outcomes: Vec<Option<Told>> = answers.iter_mut().map(told).collect();
    let rows = conn
        .prepare("SELECT id FROM t ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    let runs = runs.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.expect("every caller told"))
        .collect();
    (rows, runs, outcomes)
}

/// What each caller of `plan` should be told.
fn expected(plan: &[Then]) -> Vec<Told> {
    plan.iter()
        .map(|then| match then {
            Then::Succeed => Some(Ok(())),
            Then::Fail => Some(Err(StoreError::Conflict)),
            Then::Panic => None,
        })
        .collect()
}

#[test]
fn a_batch_that_fails_nowhere_runs_each_job_once() {
    let plan = [Then::Succeed; 4];
    let (rows, runs, outcomes) = commit(&plan);
    assert_eq!(rows, [0, 1, 2, 3]);
    assert_eq!(runs, [1, 1, 1, 1]);
    assert_eq!(outcomes, expected(&plan));
}

#[test]
fn a_failure_in_the_middle_reruns_the_jobs_before_it_once_and_leaves_nothing() {
    use Then::*;
    let plan = [Succeed, Succeed, Fail, Succeed, Succeed];
    let (rows, runs, outcomes) = commit(&plan);
    assert_eq!(rows, [0, 1, 3, 4]);
    assert_eq!(runs, [2, 2, 1, 1, 1]);
    assert_eq!(outcomes, expected(&plan));
}

#[test]
fn a_panic_in_the_middle_fails_its_job_alone() {
    use Then::*;
    let plan = [Succeed, Panic, Succeed];
    let (rows, runs, outcomes) = commit(&plan);
    assert_eq!(rows, [0, 2]);
    assert_eq!(runs, [2, 1, 1]);
    assert_eq!(outcomes, expected(&plan));
}

#[test]
fn failures_after_the_first_run_in_savepoints_without_another_rerun() {
    use Then::*;
    let plan = [Succeed, Fail, Succeed, Fail, Panic, Succeed];
    let (rows, runs, outcomes) = commit(&plan);
    assert_eq!(rows, [0, 2, 5]);
    assert_eq!(runs, [2, 1, 1, 1, 1, 1]);
    assert_eq!(outcomes, expected(&plan));
}

#[test]
fn a_failing_first_or_last_job_leaves_the_others() {
    use Then::*;
    assert_eq!(commit(&[Fail, Succeed, Succeed]).0, [1, 2]);
    let (rows, runs, _) = commit(&[Succeed, Succeed, Fail]);
    assert_eq!(rows, [0, 1]);
    assert_eq!(runs, [2, 2, 1]);
    assert!(commit(&[Fail]).0.is_empty());
}

#[test]
fn the_answer_is_the_last_runs_outcome_and_the_commits() {
    let conn = connection();
    let (answer, mut answered) = oneshot::channel();
    let mut job: Box<dyn BatchedJob> = Box::new(Job::new(|_: &Connection| Ok(7), answer));
    assert!(job.run(&conn, Isolation::None));
    assert!(job.run(&conn, Isolation::Savepoint));
    job.complete(Err(StoreError::Unavailable("commit failed".to_owned())));
    let outcome = answered.try_recv().unwrap().ok();
    assert_eq!(
        outcome,
        Some(Err(StoreError::Unavailable("commit failed".to_owned())))
    );
}
