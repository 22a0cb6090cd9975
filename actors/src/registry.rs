//! `Registry`: finds or starts the [`ThreadActor`] of a thread.
//!
//! Keyed by (user, thread): a user can only ever reach an actor of their
//! own, and an actor for someone else's thread id finds nothing in the
//! store and answers "not found". Because the registry handles one message
//! at a time, concurrent first requests for a thread never start two actors.
//!
//! Messages it accepts:
//! - [`Route`] from the [`Engine`](crate::engine::Engine): forward a
//!   command to the thread's actor (starting it if needed). Commands are
//!   forwarded with `do_send` so that they reach the actor in the order
//!   they were routed; each carries a reply channel its requester awaits,
//!   so what is queued is bounded by the requests in flight.
//! - [`Idle`] from a ThreadActor that has been idle for its timeout. The
//!   registry retires it only if every command routed to it has been
//!   received, so no command is ever sent to a stopping actor.
//! - [`Quiet`] from a ThreadActor each time it runs out of work (no turn,
//!   no write, nothing queued). With more actors than `max_threads`, the
//!   registry retires the least recently used quiet ones, under the same
//!   rule as [`Idle`]: only an actor that has received every command
//!   routed to it, and has reported quiet since, is retired. A busy actor
//!   (a turn streaming, a write in flight, commands queued) never is; the
//!   count can stay over the cap while every actor is busy. A retired
//!   thread reloads from the store on its next request.
//! - [`ShutdownThreads`] from the engine at shutdown; [`CountThreads`] for
//!   metrics and tests.
//!
//! Mailbox: actix's default (16) for `send`; `do_send` callers are the
//! engine's request handlers (one message per request).

use std::collections::HashMap;
use std::sync::Arc;

use actix::dev::ArbiterHandle;
use actix::prelude::*;
use futures_util::future::join_all;

use crate::engine::ThreadDeps;
use crate::error::EngineError;
use crate::ids::{ThreadId, UserId};
use crate::thread::{CancelTurn, Command, Deliver, Initial, Retire, ThreadActor};

/// A thread as seen by one user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreadKey {
    /// The user the requests act for.
    pub user: UserId,
    /// The thread.
    pub thread: ThreadId,
}

impl ThreadKey {
    /// The key of `thread` as seen by `user`.
    pub fn new(user: &UserId, thread: ThreadId) -> Self {
        Self {
            user: user.clone(),
            thread,
        }
    }
}

struct Entry {
    addr: Addr<ThreadActor>,
    /// Commands routed to the actor.
    routed: u64,
    /// `routed` when the actor last reported [`Quiet`]; equal to `routed`
    /// means it is quiet now and may be retired.
    quiet_at: Option<u64>,
    /// When it was last routed a command (the registry's clock).
    last_used: u64,
}

impl Entry {
    fn is_quiet(&self) -> bool {
        self.quiet_at == Some(self.routed)
    }
}

/// Finds or starts thread actors. See the module documentation.
pub struct Registry {
    threads: HashMap<ThreadKey, Entry>,
    deps: Arc<ThreadDeps>,
    shutting_down: bool,
    /// See `EngineConfig::max_cached_threads`.
    max_threads: usize,
    /// Counts routed commands; orders entries by last use.
    clock: u64,
    /// Where new thread actors start, in turn; empty: on the registry's
    /// own arbiter.
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
}

impl Registry {
    /// A registry whose thread actors use `deps`, keeping about
    /// `max_threads` of them, and run on `arbiters` (round robin; empty:
    /// on the registry's arbiter).
    pub(crate) fn new(
        deps: Arc<ThreadDeps>,
        max_threads: usize,
        arbiters: Vec<ArbiterHandle>,
    ) -> Self {
        Self {
            threads: HashMap::new(),
            deps,
            shutting_down: false,
            max_threads,
            clock: 0,
            arbiters,
            next_arbiter: 0,
        }
    }

    /// Retires quiet actors, least recently used first, until the count
    /// is within the cap or only busy actors are left.
    fn enforce_cap(&mut self) {
        while self.threads.len() > self.max_threads {
            let Some(key) = self
                .threads
                .iter()
                .filter(|(_, e)| e.is_quiet())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                tracing::debug!(
                    threads = self.threads.len(),
                    cap = self.max_threads,
                    "over the thread cap, but every thread actor is busy"
                );
                return;
            };
            let entry = self.threads.remove(&key).expect("present");
            tracing::debug!(thread_id = %key.thread, "retiring the least recently used thread actor");
            entry.addr.do_send(Retire);
        }
    }

    /// Starts a thread actor, on the next arbiter of the pool. Its agents
    /// and background tasks start from it, so they share its arbiter.
    fn start_thread(
        &mut self,
        key: ThreadKey,
        initial: Initial,
        registry: Addr<Registry>,
    ) -> Addr<ThreadActor> {
        let deps = self.deps.clone();
        if self.arbiters.is_empty() {
            return ThreadActor::new(key, deps, registry, initial).start();
        }
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        ThreadActor::start_in_arbiter(arbiter, move |_| {
            ThreadActor::new(key, deps, registry, initial)
        })
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// Run a command on a thread's actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Route {
    /// Which thread, for which user.
    pub key: ThreadKey,
    /// `Initial::New` for `threads.create`; `Initial::Load` otherwise.
    pub initial: Initial,
    /// What to do.
    pub command: Command,
    /// Who asked.
    pub request: crate::engine::RequestContext,
}

impl Handler<Route> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Route, ctx: &mut Self::Context) {
        if self.shutting_down {
            msg.command.refuse(EngineError::ShuttingDown);
            return;
        }
        // An actor that died (a panic in application code) is replaced
        // rather than left to swallow every later command.
        if self
            .threads
            .get(&msg.key)
            .is_some_and(|e| !e.addr.connected())
        {
            tracing::warn!(thread_id = %msg.key.thread, "thread actor died; starting a new one");
            self.threads.remove(&msg.key);
        }
        if !self.threads.contains_key(&msg.key) {
            let addr = self.start_thread(msg.key.clone(), msg.initial, ctx.address());
            self.threads.insert(
                msg.key.clone(),
                Entry {
                    addr,
                    routed: 0,
                    quiet_at: None,
                    last_used: 0,
                },
            );
        }
        let entry = self.threads.get_mut(&msg.key).expect("just inserted");
        self.clock += 1;
        entry.routed += 1;
        entry.last_used = self.clock;
        entry.addr.do_send(Deliver {
            command: msg.command,
            request: msg.request,
        });
        // The actor just routed to is busy, so it is never the one retired.
        self.enforce_cap();
    }
}

/// A thread actor ran out of work, having received `seen` commands.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Quiet {
    /// The actor's key.
    pub key: ThreadKey,
    /// How many commands it has received.
    pub seen: u64,
}

impl Handler<Quiet> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Quiet, _ctx: &mut Self::Context) {
        if let Some(entry) = self.threads.get_mut(&msg.key) {
            entry.quiet_at = Some(msg.seen);
            self.enforce_cap();
        }
    }
}

/// A thread actor has been idle for its timeout, having received `seen`
/// commands.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Idle {
    /// The actor's key.
    pub key: ThreadKey,
    /// How many commands it has received.
    pub seen: u64,
}

impl Handler<Idle> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Idle, _ctx: &mut Self::Context) {
        if let Some(entry) = self.threads.get(&msg.key)
            && entry.routed == msg.seen
        {
            let entry = self.threads.remove(&msg.key).expect("present");
            entry.addr.do_send(Retire);
        }
    }
}

/// Refuse new commands and cancel every running turn; answered once all
/// cancellations are stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutdownThreads;

impl Handler<ShutdownThreads> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: ShutdownThreads, _ctx: &mut Self::Context) -> Self::Result {
        self.shutting_down = true;
        let cancels: Vec<_> = self
            .threads
            .values()
            .map(|e| e.addr.send(CancelTurn))
            .collect();
        Box::pin(async move {
            // A stopped actor has nothing left to cancel.
            let _ = join_all(cancels).await;
        })
    }
}

/// How many thread actors are alive.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountThreads;

impl Handler<CountThreads> for Registry {
    type Result = usize;

    fn handle(&mut self, _msg: CountThreads, _ctx: &mut Self::Context) -> usize {
        self.threads.len()
    }
}
