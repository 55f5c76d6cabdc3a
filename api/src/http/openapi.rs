//! The OpenAPI document, generated from the handlers' annotations.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The security scheme names used by operations: who may call them.
pub const USER_SCHEME: &str = "user";
/// Operations for admins only.
pub const ADMIN_SCHEME: &str = "admin";
/// Operations for devices only.
pub const DEVICE_SCHEME: &str = "device";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MaskGate API",
        version = "1",
        description = "Visits, statistics, devices and live events of MaskGate doors. \
            Errors are `{\"error\": {\"code\", \"message\"}}`. Send tokens as \
            `Authorization: Bearer <token>`."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, metrics and this document"),
        (name = "auth", description = "Logging in"),
        (name = "visits", description = "Decisions made at doors"),
        (name = "stats", description = "Counts for charts"),
        (name = "devices", description = "Doors and their heartbeats"),
        (name = "stream", description = "Live events"),
        (name = "models", description = "The model registry and rollouts"),
        (name = "alerts", description = "Alert rules, alerts, channels and the delivery log"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, who) in [
            (
                USER_SCHEME,
                "a user's session token (admin or viewer), from /api/v1/auth/login",
            ),
            (ADMIN_SCHEME, "an admin's session token"),
            (
                DEVICE_SCHEME,
                "a device token, printed once when the device is registered",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(who))
                        .build(),
                ),
            );
        }
    }
}

/// The document's info, tags and security schemes, before routes are added.
pub(crate) fn base_doc() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// The complete OpenAPI document of the server.
pub fn openapi_doc() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| super::api_router().split_for_parts().1)
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API")))]
pub(crate) async fn get_openapi() -> Json<&'static OpenApiDoc> {
    Json(openapi_doc())
}
