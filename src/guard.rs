//! The middleware in front of `/chatkit` and the upload endpoint:
//! authenticates the request ([`Auth::authenticate`](crate::auth::Auth)),
//! counts it against the user's rate limit, and leaves the [`Caller`] (the
//! [`Identity`] and its owner key) in the request's extensions for the
//! handler. A refused request is answered here (401 with
//! `WWW-Authenticate`, or 429 with `Retry-After`) without its body ever
//! being read.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError, web};

use crate::auth::{AuthError, HeaderNames, Identity};
use crate::http::AppState;

/// The guard; wrap a resource with `from_fn(guard::guard)`.
pub async fn guard<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    let settings = &state.settings;
    let names = HeaderNames {
        user: &settings.user_header,
        default_user: &settings.default_user,
        tenant: settings.tenant_header.as_deref(),
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let identity = match settings.auth.authenticate(req.headers(), peer, names) {
        Ok(identity) => identity,
        Err(e) => {
            log_refusal(&e, peer);
            return Ok(req.error_response(e).map_into_right_body());
        }
    };
    let owner = identity.owner();
    tracing::Span::current().record("user_id", owner.as_str());
    if let Err(e) = state.limiter.check_rate(&owner) {
        tracing::info!(user_id = %owner, "request refused: over the rate limit");
        return Ok(req.error_response(e).map_into_right_body());
    }
    req.extensions_mut().insert(Caller { identity, owner });
    Ok(next.call(req).await?.map_into_left_body())
}

fn log_refusal(e: &AuthError, peer: Option<std::net::IpAddr>) {
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    match e {
        AuthError::UntrustedPeer => {
            tracing::warn!(%peer, "request refused: not from a trusted proxy")
        }
        _ => {
            tracing::info!(%peer, reason = %e, status = e.status_code().as_u16(), "request refused")
        }
    }
}

/// Whom a request acts for, as the guard found it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The authenticated identity.
    pub identity: Identity,
    /// `identity.owner()`, computed once by the guard.
    pub owner: String,
}

/// Takes the [`Caller`] the guard left for this request (once per request:
/// the handler is its only reader).
pub fn caller(req: &HttpRequest) -> Caller {
    req.extensions_mut()
        .remove::<Caller>()
        .expect("the guard runs before every handler that asks for the caller")
}
