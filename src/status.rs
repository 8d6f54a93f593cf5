//! Status derivation framework shared by every reconciled kind
//! (service-reconcile.md §1, status ranks of api.md §2).
//!
//! A reconcile reports per-component health; this module turns it into the
//! framework conditions, the `Ready` condition, the root status, the events and the
//! apply gate. It is pure: the clock is the `now` argument, so the same inputs always
//! give the same status and tests can pin the 10 s grace period.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Infrastructure errors younger than this keep a component's previous condition
/// status, so a blip of the API server does not flap the object.
const GRACE_PERIOD_NANOS: i128 = 10_000_000_000;

const DEPENDENCIES_REACHABLE: &str = "DependenciesReachable";
const AUTH_VALID: &str = "AuthValid";
const CONFIG_VALID: &str = "ConfigValid";
const READY: &str = "Ready";
const READY_SUFFIX: &str = "Ready";

const MSG_AUTH_ERROR: &str = "Authentication or authorization failure";
const MSG_INVALID_SPEC: &str = "Configuration validation failed";
const MSG_MISSING_REF: &str = "Referenced resource not found";

// ---------------------------------------------------------------------------------
// Status vocabulary (api.md §2)
// ---------------------------------------------------------------------------------

/// Internal status vocabulary; every kind writes a subset of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Pending,
    Starting,
    Progressing,
    Ready,
    Running,
    Degraded,
    NotAvailable,
    Failed,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Pending,
        Status::Starting,
        Status::Progressing,
        Status::Ready,
        Status::Running,
        Status::Degraded,
        Status::NotAvailable,
        Status::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Starting => "Starting",
            Status::Progressing => "Progressing",
            Status::Ready => "Ready",
            Status::Running => "Running",
            Status::Degraded => "Degraded",
            Status::NotAvailable => "NotAvailable",
            Status::Failed => "Failed",
        }
    }

    /// "Goodness" used for every best/worst comparison (higher is better).
    pub const fn rank(self) -> u8 {
        match self {
            Status::Running => 7,
            Status::Ready => 6,
            Status::Progressing => 5,
            Status::Starting => 4,
            Status::Pending => 3,
            Status::Degraded => 2,
            Status::NotAvailable => 1,
            Status::Failed => 0,
        }
    }

    /// Exact (case-sensitive) parse of a written status value.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States a `False` component condition keeps instead of the dependency default.
    pub const fn is_error(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Degraded | Status::NotAvailable
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rank of a raw status string as read from another object; unset or unknown values
/// rank like `Failed` (0).
pub fn status_rank(s: &str) -> u8 {
    Status::parse(s).map_or(0, Status::rank)
}

/// AIMService's `status.status` value (§1.7): `Progressing` → `Starting`, `Ready` →
/// `Running`; `NotAvailable`, absent from the AIMService enum, is written as `Pending`
/// ([rec]) because the reference's value is rejected by the API server.
pub fn service_status_value(status: Status) -> &'static str {
    match status {
        Status::Progressing => "Starting",
        Status::Ready => "Running",
        Status::NotAvailable => "Pending",
        other => other.as_str(),
    }
}

// ---------------------------------------------------------------------------------
// Inputs (§1.1, §1.2)
// ---------------------------------------------------------------------------------

/// Error classes (§1.2); they drive the framework conditions and the apply gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    Infrastructure,
    Auth,
    MissingDownstream,
    MissingUpstream,
    InvalidSpec,
    ResourceExhaustion,
    /// Unclassified; treated as Infrastructure for parent-level decisions.
    Unknown,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::Infrastructure,
        ErrorClass::Auth,
        ErrorClass::MissingDownstream,
        ErrorClass::MissingUpstream,
        ErrorClass::InvalidSpec,
        ErrorClass::ResourceExhaustion,
        ErrorClass::Unknown,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Infrastructure => "Infrastructure",
            ErrorClass::Auth => "Auth",
            ErrorClass::MissingDownstream => "MissingDownstream",
            ErrorClass::MissingUpstream => "MissingUpstream",
            ErrorClass::InvalidSpec => "InvalidSpec",
            ErrorClass::ResourceExhaustion => "ResourceExhaustion",
            ErrorClass::Unknown => "Unknown",
        }
    }

    /// Class named by a rule pack (case-insensitive); anything unrecognised is, by
    /// definition, unclassified (`Unknown`).
    pub fn parse(s: &str) -> ErrorClass {
        ErrorClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .unwrap_or(ErrorClass::Unknown)
    }
}

/// An error with its class, a machine reason and a user message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifiedError {
    pub class: ErrorClass,
    pub reason: String,
    pub message: String,
}

impl ClassifiedError {
    pub fn new(class: ErrorClass, reason: impl Into<String>, message: impl Into<String>) -> Self {
        ClassifiedError {
            class,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Whether a not-ready component waits on the user (upstream → `Pending`) or on the
/// operator's own objects (downstream/unspecified → `Progressing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Dependency {
    Upstream,
    Downstream,
    #[default]
    Unspecified,
}

/// One component's health for this reconcile; yields condition `<component>Ready`.
/// Empty `reason`/`message` mean "not given" and are derived per §1.3 (as in the
/// reference, where the empty string is the absent value).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ComponentHealth {
    pub component: String,
    pub state: Option<Status>,
    pub reason: String,
    pub message: String,
    pub errors: Vec<ClassifiedError>,
    pub dependency: Dependency,
}

impl ComponentHealth {
    pub fn new(component: impl Into<String>, dependency: Dependency) -> Self {
        ComponentHealth {
            component: component.into(),
            dependency,
            ..ComponentHealth::default()
        }
    }

    /// Explicit state, reason and message (empty strings leave them to derivation).
    pub fn with_state(
        mut self,
        state: Status,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.state = Some(state);
        self.reason = reason.into();
        self.message = message.into();
        self
    }

    pub fn with_error(mut self, error: ClassifiedError) -> Self {
        self.errors.push(error);
        self
    }

    /// §1.3: explicit state, else derived from the error classes.
    pub fn effective_state(&self) -> Status {
        if let Some(state) = self.state {
            return state;
        }
        let has = |pred: fn(ErrorClass) -> bool| self.errors.iter().any(|e| pred(e.class));
        if self.errors.is_empty() {
            Status::Ready
        } else if has(|c| {
            matches!(
                c,
                ErrorClass::Auth | ErrorClass::ResourceExhaustion | ErrorClass::InvalidSpec
            )
        }) {
            Status::Failed
        } else if has(|c| matches!(c, ErrorClass::MissingUpstream | ErrorClass::Infrastructure)) {
            Status::Degraded
        } else {
            Status::Progressing
        }
    }

    /// Explicit reason, else the first error's, else `Ready`.
    pub fn effective_reason(&self) -> &str {
        if !self.reason.is_empty() {
            &self.reason
        } else if let Some(e) = self.errors.first() {
            &e.reason
        } else {
            "Ready"
        }
    }

    /// Explicit message, else the first error's, else empty.
    pub fn effective_message(&self) -> &str {
        if !self.message.is_empty() {
            &self.message
        } else {
            self.errors.first().map_or("", |e| e.message.as_str())
        }
    }

    fn has_class(&self, class: ErrorClass) -> bool {
        self.errors.iter().any(|e| e.class == class)
    }
}

// ---------------------------------------------------------------------------------
// Conditions and events
// ---------------------------------------------------------------------------------

/// `metav1.ConditionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// `metav1.Condition` as stored in `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// RFC 3339 timestamp.
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// The condition as `status.conditions` holds it (what `serde_json::to_value`
    /// gives), its strings moved rather than copied: every plan writes every
    /// condition of its object.
    pub fn into_value(self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("type".into(), self.type_.into());
        m.insert("status".into(), self.status.as_str().into());
        m.insert("reason".into(), self.reason.into());
        m.insert("message".into(), self.message.into());
        m.insert(
            "lastTransitionTime".into(),
            self.last_transition_time.into(),
        );
        if let Some(g) = self.observed_generation {
            m.insert("observedGeneration".into(), g.into());
        }
        serde_json::Value::Object(m)
    }
}

/// The conditions stored in a `status.conditions` list; none when it does not parse
/// (every condition is then written afresh).
pub fn stored_conditions(list: Option<&serde_json::Value>) -> Vec<Condition> {
    list.and_then(|l| Vec::<Condition>::deserialize(l).ok())
        .unwrap_or_default()
}

/// The conditions as `status.conditions` holds them.
pub fn conditions_value(conditions: Vec<Condition>) -> serde_json::Value {
    serde_json::Value::Array(conditions.into_iter().map(Condition::into_value).collect())
}

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

/// An event to record on the reconciled object (source `aim-<ctl>-controller`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// How a written condition is reported (§1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Level {
    /// Normal event, only when status or reason changed.
    #[default]
    Info,
    /// Warning event on every reconcile.
    Error,
}

/// The object's condition list during one reconcile: keeps positions, applies the
/// `lastTransitionTime` rule and remembers each condition's event level. Kind-specific
/// decoration (§1.4 step 5) writes its domain conditions through [`ConditionSet::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionSet {
    current: Vec<Written>,
    now: String,
    generation: Option<i64>,
}

/// A condition of the set, with what its event needs to know of the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    cond: Condition,
    level: Level,
    before: Before,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Before {
    /// Not stored before this reconcile.
    New,
    /// Stored, and not written since.
    Untouched,
    /// Stored with this status and reason, then written.
    Was(ConditionStatus, String),
}

impl ConditionSet {
    /// Starts from the stored conditions; untouched ones stay as they are.
    pub fn new(previous: Vec<Condition>, now: &str, generation: Option<i64>) -> Self {
        ConditionSet {
            current: previous
                .into_iter()
                .map(|cond| Written {
                    cond,
                    level: Level::Info,
                    before: Before::Untouched,
                })
                .collect(),
            now: now.to_string(),
            generation,
        }
    }

    pub fn get(&self, type_: &str) -> Option<&Condition> {
        self.iter().find(|c| c.type_ == type_)
    }

    fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.current.iter().map(|w| &w.cond)
    }

    /// Writes a condition in place (or appends it); `lastTransitionTime` survives only
    /// when both status and reason are unchanged.
    pub fn set(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        level: Level,
    ) {
        let Some(w) = self.current.iter_mut().find(|w| w.cond.type_ == type_) else {
            self.current.push(Written {
                cond: Condition {
                    type_: type_.to_string(),
                    status,
                    reason: reason.to_string(),
                    message: message.to_string(),
                    last_transition_time: self.now.clone(),
                    observed_generation: self.generation,
                },
                level,
                before: Before::New,
            });
            return;
        };
        let c = &mut w.cond;
        if c.status != status || c.reason != reason {
            c.last_transition_time.clone_from(&self.now);
        }
        if w.before == Before::Untouched {
            w.before = Before::Was(c.status, std::mem::take(&mut c.reason));
        }
        c.status = status;
        c.reason.clear();
        c.reason.push_str(reason);
        c.message.clear();
        c.message.push_str(message);
        c.observed_generation = self.generation;
        w.level = level;
    }

    /// The conditions to store and the events to record (§1.8): Normal events for
    /// Info conditions whose status or reason changed, then Warning events for every
    /// Error condition.
    pub fn finish(self) -> (Vec<Condition>, Vec<EventRecord>) {
        let mut events = Vec::new();
        for w in &self.current {
            let changed = match &w.before {
                Before::New => true,
                Before::Untouched => false,
                Before::Was(status, reason) => *status != w.cond.status || *reason != w.cond.reason,
            };
            if w.level == Level::Info && changed {
                events.push(event_for(&w.cond, EventType::Normal));
            }
        }
        for w in &self.current {
            if w.level == Level::Error {
                events.push(event_for(&w.cond, EventType::Warning));
            }
        }
        (self.current.into_iter().map(|w| w.cond).collect(), events)
    }
}

fn event_for(cond: &Condition, type_: EventType) -> EventRecord {
    let message = if cond.message.is_empty() {
        let component = cond.type_.strip_suffix(READY_SUFFIX).unwrap_or(&cond.type_);
        let what = match cond.status {
            ConditionStatus::True => "is ready",
            ConditionStatus::False => "is not ready",
            ConditionStatus::Unknown => "status unknown",
        };
        format!("{component} {what}: {}", cond.reason)
    } else {
        cond.message.clone()
    };
    EventRecord {
        type_,
        reason: cond.reason.clone(),
        message,
    }
}

// ---------------------------------------------------------------------------------
// Derivation (§1.3–§1.6)
// ---------------------------------------------------------------------------------

/// Result of one derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOutcome {
    /// Root status in the internal vocabulary (map with [`service_status_value`]).
    pub status: Status,
    /// Full condition list to write (never shorter than the previous one).
    pub conditions: Vec<Condition>,
    pub events: Vec<EventRecord>,
    /// Infrastructure/Unknown error present: nothing is applied and the reconcile
    /// ends with an error (exponential backoff).
    pub has_infra_error: bool,
    /// Nothing may be applied or deleted this reconcile (§1.6).
    pub blocks_apply: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct ErrorFlags {
    infra: bool,
    auth: bool,
    invalid_spec: bool,
    missing_upstream: bool,
}

impl ErrorFlags {
    /// ResourceExhaustion and MissingDownstream only affect their component's state.
    fn of(components: &[ComponentHealth]) -> Self {
        let mut f = ErrorFlags::default();
        for e in components.iter().flat_map(|c| &c.errors) {
            match e.class {
                ErrorClass::Infrastructure | ErrorClass::Unknown => f.infra = true,
                ErrorClass::Auth => f.auth = true,
                ErrorClass::InvalidSpec => f.invalid_spec = true,
                ErrorClass::MissingUpstream => f.missing_upstream = true,
                ErrorClass::MissingDownstream | ErrorClass::ResourceExhaustion => {}
            }
        }
        f
    }

    fn blocking(self) -> bool {
        self.auth || self.invalid_spec || self.missing_upstream
    }
}

/// Derives conditions, root status, events and the apply gate (§1.3–§1.6, §1.8).
///
/// `now` is the RFC 3339 time of this reconcile; `generation` (when given) is written
/// as `observedGeneration` on every condition touched ([ref] writes none: pass `None`).
/// Components with an empty name are omitted ([rec]); their errors still count.
pub fn derive_status(
    previous_conditions: Vec<Condition>,
    components: &[ComponentHealth],
    now: &str,
    generation: Option<i64>,
) -> StatusOutcome {
    derive_status_with(previous_conditions, components, now, generation, |_| {})
}

/// [`derive_status`] with the kind-specific decoration step (§1.4 step 5) run after
/// `ConfigValid` and before `Ready`, so decorated `…Ready` conditions take part in the
/// root status.
pub fn derive_status_with(
    previous_conditions: Vec<Condition>,
    components: &[ComponentHealth],
    now: &str,
    generation: Option<i64>,
    decorate: impl FnOnce(&mut ConditionSet),
) -> StatusOutcome {
    let flags = ErrorFlags::of(components);
    let named: Vec<&ComponentHealth> = components
        .iter()
        .filter(|c| !c.component.is_empty())
        .collect();
    let mut set = ConditionSet::new(previous_conditions, now, generation);

    // 1. DependenciesReachable
    if flags.infra {
        set.set(
            DEPENDENCIES_REACHABLE,
            ConditionStatus::False,
            "InfrastructureError",
            "Cannot reach dependencies",
            Level::Error,
        );
    } else if is_false(&set, DEPENDENCIES_REACHABLE) {
        set.set(
            DEPENDENCIES_REACHABLE,
            ConditionStatus::True,
            "Reachable",
            "All dependencies are reachable",
            Level::Info,
        );
    }

    // 2. <Component>Ready, with the infrastructure grace period.
    let in_grace = flags.infra
        && set.get(DEPENDENCIES_REACHABLE).is_some_and(|c| {
            c.status == ConditionStatus::False && within_grace(&c.last_transition_time, now)
        });
    for comp in &named {
        let type_ = [comp.component.as_str(), READY_SUFFIX].concat();
        let state = comp.effective_state();
        let reason = comp.effective_reason();
        let message = comp.effective_message();
        if in_grace
            && comp.has_class(ErrorClass::Infrastructure)
            && let Some(old) = set.get(&type_).map(|c| c.status)
        {
            let level = if old == ConditionStatus::False {
                Level::Error
            } else {
                Level::Info
            };
            set.set(&type_, old, reason, message, level);
            continue;
        }
        let status = if state == Status::Ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        let level = if state.is_error() {
            Level::Error
        } else {
            Level::Info
        };
        set.set(&type_, status, reason, message, level);
    }

    // 3. AuthValid
    if flags.auth {
        set.set(
            AUTH_VALID,
            ConditionStatus::False,
            "AuthError",
            MSG_AUTH_ERROR,
            Level::Error,
        );
    } else if is_false(&set, AUTH_VALID) {
        set.set(
            AUTH_VALID,
            ConditionStatus::True,
            "AuthenticationValid",
            "Authentication and authorization successful",
            Level::Info,
        );
    }

    // 4. ConfigValid
    if flags.invalid_spec {
        set.set(
            CONFIG_VALID,
            ConditionStatus::False,
            "InvalidSpec",
            MSG_INVALID_SPEC,
            Level::Error,
        );
    } else if flags.missing_upstream {
        set.set(
            CONFIG_VALID,
            ConditionStatus::False,
            "ReferenceNotFound",
            MSG_MISSING_REF,
            Level::Error,
        );
    } else if is_false(&set, CONFIG_VALID) {
        set.set(
            CONFIG_VALID,
            ConditionStatus::True,
            "ConfigurationValid",
            "Configuration is valid",
            Level::Info,
        );
    }

    // 5. Kind-specific decoration.
    decorate(&mut set);

    // 6. Ready and the root status.
    let status = ready_and_root_status(&mut set, flags, &named);
    let (conditions, events) = set.finish();
    StatusOutcome {
        status,
        conditions,
        events,
        has_infra_error: flags.infra,
        blocks_apply: flags.infra || flags.blocking(),
    }
}

fn is_false(set: &ConditionSet, type_: &str) -> bool {
    set.get(type_)
        .is_some_and(|c| c.status == ConditionStatus::False)
}

/// A component condition is any `…Ready` type except the framework's own.
fn is_component_condition(type_: &str) -> bool {
    !matches!(
        type_,
        READY | DEPENDENCIES_REACHABLE | AUTH_VALID | CONFIG_VALID
    ) && type_.ends_with(READY_SUFFIX)
}

/// §1.5: sets `Ready` and returns the root status.
fn ready_and_root_status(
    set: &mut ConditionSet,
    flags: ErrorFlags,
    components: &[&ComponentHealth],
) -> Status {
    // a. User-fixable errors fail the object outright.
    let blocking = if flags.auth {
        Some(("AuthError", MSG_AUTH_ERROR))
    } else if flags.invalid_spec {
        Some(("InvalidSpec", MSG_INVALID_SPEC))
    } else if flags.missing_upstream {
        Some(("ReferenceNotFound", MSG_MISSING_REF))
    } else {
        None
    };
    if let Some((reason, message)) = blocking {
        set.set(READY, ConditionStatus::False, reason, message, Level::Error);
        return Status::Failed;
    }

    // b. Scan component conditions in stored order; later records of a name win.
    let states: Vec<(&str, (Status, Dependency))> = components
        .iter()
        .map(|c| (c.component.as_str(), (c.effective_state(), c.dependency)))
        .collect();
    let mut all_ready = true;
    let mut worst = Status::Ready;
    let mut first_error: Option<(String, String, String)> = None;
    for cond in set.iter() {
        if !is_component_condition(&cond.type_) {
            continue;
        }
        let name = cond.type_.strip_suffix(READY_SUFFIX).unwrap_or(&cond.type_);
        let current = states
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s);
        let comp_status = match cond.status {
            ConditionStatus::True => Status::Ready,
            ConditionStatus::False | ConditionStatus::Unknown => match current {
                Some((state, _)) if state.is_error() || state == Status::Pending => state,
                Some((_, Dependency::Upstream)) => Status::Pending,
                _ => Status::Progressing,
            },
        };
        if comp_status != Status::Ready {
            all_ready = false;
            if first_error.is_none() && comp_status.is_error() {
                first_error = Some((name.to_string(), cond.reason.clone(), cond.message.clone()));
            }
        }
        if comp_status.rank() < worst.rank() {
            worst = comp_status;
        }
    }

    // c. The Ready condition.
    if all_ready {
        set.set(
            READY,
            ConditionStatus::True,
            "AllComponentsReady",
            "All components are ready",
            Level::Info,
        );
    } else if let Some((component, reason, message)) = first_error {
        let text = format!("Component {component} is not ready: {message}");
        set.set(READY, ConditionStatus::False, &reason, &text, Level::Error);
    } else if flags.infra {
        set.set(
            READY,
            ConditionStatus::False,
            "InfrastructureError",
            "Infrastructure error - waiting for retry",
            Level::Error,
        );
    } else {
        set.set(
            READY,
            ConditionStatus::False,
            "Progressing",
            "Waiting for components to become ready",
            Level::Info,
        );
    }

    if flags.infra && worst != Status::Ready {
        Status::Degraded
    } else {
        worst
    }
}

// ---------------------------------------------------------------------------------
// RFC 3339 (only what the grace period needs)
// ---------------------------------------------------------------------------------

/// `since` happened less than 10 s before `now`; unparsable times never grant grace,
/// so the real component state is shown rather than a stale one.
fn within_grace(since: &str, now: &str) -> bool {
    match (parse_rfc3339(since), parse_rfc3339(now)) {
        (Some(a), Some(b)) => b - a < GRACE_PERIOD_NANOS,
        _ => false,
    }
}

/// Nanoseconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + i128::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let off = oh * 3600 + om * 60;
            if sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-02-01T10:00:00Z";
    const T5: &str = "2026-02-01T10:00:05Z";
    const T20: &str = "2026-02-01T10:00:20Z";

    fn comp(name: &str, dep: Dependency) -> ComponentHealth {
        ComponentHealth::new(name, dep)
    }

    fn err(class: ErrorClass, reason: &str) -> ClassifiedError {
        ClassifiedError::new(class, reason, format!("{reason} happened"))
    }

    #[test]
    fn conditions_are_written_as_serde_writes_them() {
        let out = derive_status(vec![], &[comp("Model", Dependency::Upstream)], T0, Some(3));
        let mut conditions = out.conditions.clone();
        conditions[0].observed_generation = None;
        conditions[1].message = String::new();
        assert_eq!(
            conditions_value(conditions.clone()),
            serde_json::to_value(&conditions).unwrap()
        );
    }

    fn cond<'a>(out: &'a StatusOutcome, t: &str) -> &'a Condition {
        out.conditions
            .iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("no condition {t} in {:?}", out.conditions))
    }

    fn has(out: &StatusOutcome, t: &str) -> bool {
        out.conditions.iter().any(|c| c.type_ == t)
    }

    fn sr(c: &Condition) -> (ConditionStatus, &str) {
        (c.status, c.reason.as_str())
    }

    use ConditionStatus::{False, True};

    // ---- vocabulary ----

    #[test]
    fn ranks_and_service_mapping() {
        let ranks: Vec<u8> = Status::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, vec![3, 4, 5, 6, 7, 2, 1, 0]);
        assert_eq!(status_rank("Running"), 7);
        assert_eq!(status_rank(""), 0);
        assert_eq!(status_rank("ready"), 0);
        assert_eq!(Status::parse("NotAvailable"), Some(Status::NotAvailable));
        assert_eq!(service_status_value(Status::Progressing), "Starting");
        assert_eq!(service_status_value(Status::Ready), "Running");
        assert_eq!(service_status_value(Status::NotAvailable), "Pending");
        assert_eq!(service_status_value(Status::Degraded), "Degraded");
        assert_eq!(service_status_value(Status::Pending), "Pending");
        assert_eq!(service_status_value(Status::Failed), "Failed");
    }

    #[test]
    fn condition_serde_is_camel_case() {
        let c = Condition {
            type_: "Ready".into(),
            status: True,
            reason: "R".into(),
            message: "".into(),
            last_transition_time: T0.into(),
            observed_generation: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "Ready", "status": "True", "reason": "R", "message": "",
                "lastTransitionTime": T0})
        );
        let back: Condition = serde_json::from_value(serde_json::json!({
            "type": "X", "status": "Unknown", "observedGeneration": 3}))
        .unwrap();
        assert_eq!(back.status, ConditionStatus::Unknown);
        assert_eq!(back.observed_generation, Some(3));
    }

    // ---- §1.3 ----

    #[test]
    fn component_state_from_errors() {
        let c = |class| comp("X", Dependency::Unspecified).with_error(err(class, "R"));
        assert_eq!(
            comp("X", Dependency::Unspecified).effective_state(),
            Status::Ready
        );
        assert_eq!(c(ErrorClass::Auth).effective_state(), Status::Failed);
        assert_eq!(
            c(ErrorClass::ResourceExhaustion).effective_state(),
            Status::Failed
        );
        assert_eq!(c(ErrorClass::InvalidSpec).effective_state(), Status::Failed);
        assert_eq!(
            c(ErrorClass::MissingUpstream).effective_state(),
            Status::Degraded
        );
        assert_eq!(
            c(ErrorClass::Infrastructure).effective_state(),
            Status::Degraded
        );
        assert_eq!(
            c(ErrorClass::MissingDownstream).effective_state(),
            Status::Progressing
        );
        assert_eq!(
            c(ErrorClass::Unknown).effective_state(),
            Status::Progressing
        );
        // Worst class wins regardless of order.
        let mixed = c(ErrorClass::Infrastructure).with_error(err(ErrorClass::InvalidSpec, "S"));
        assert_eq!(mixed.effective_state(), Status::Failed);
        // Explicit state wins over errors.
        let explicit = c(ErrorClass::Auth).with_state(Status::Pending, "", "");
        assert_eq!(explicit.effective_state(), Status::Pending);
    }

    #[test]
    fn error_class_parse() {
        for class in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(class.as_str()), class);
        }
        assert_eq!(ErrorClass::parse("invalidspec"), ErrorClass::InvalidSpec);
        assert_eq!(ErrorClass::parse("Whatever"), ErrorClass::Unknown);
        assert_eq!(ErrorClass::parse(""), ErrorClass::Unknown);
    }

    #[test]
    fn component_reason_and_message_fallbacks() {
        let plain = comp("X", Dependency::Upstream);
        assert_eq!(
            (plain.effective_reason(), plain.effective_message()),
            ("Ready", "")
        );
        let errs = plain
            .clone()
            .with_error(err(ErrorClass::MissingDownstream, "First"))
            .with_error(err(ErrorClass::Auth, "Second"));
        assert_eq!(errs.effective_reason(), "First");
        assert_eq!(errs.effective_message(), "First happened");
        let explicit = errs
            .clone()
            .with_state(Status::Failed, "Mine", "my message");
        assert_eq!(
            (explicit.effective_reason(), explicit.effective_message()),
            ("Mine", "my message")
        );
        // Empty strings count as absent, as in the reference.
        let blank = errs.with_state(Status::Failed, "", "");
        assert_eq!(blank.effective_reason(), "First");
        assert_eq!(blank.effective_message(), "First happened");
    }

    // ---- §1.4 ----

    #[test]
    fn framework_conditions_absent_without_errors() {
        let out = derive_status(vec![], &[comp("Model", Dependency::Upstream)], T0, None);
        assert!(!has(&out, "DependenciesReachable"));
        assert!(!has(&out, "AuthValid"));
        assert!(!has(&out, "ConfigValid"));
        let types: Vec<&str> = out.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["ModelReady", "Ready"]);
        assert_eq!(out.status, Status::Ready);
        assert_eq!(sr(cond(&out, "Ready")), (True, "AllComponentsReady"));
        assert!(!out.blocks_apply && !out.has_infra_error);
    }

    #[test]
    fn framework_conditions_order_and_flip_back() {
        let failing = [comp("Model", Dependency::Upstream)
            .with_error(err(ErrorClass::Infrastructure, "Timeout"))
            .with_error(err(ErrorClass::Auth, "Unauthorized"))
            .with_error(err(ErrorClass::InvalidSpec, "Invalid"))
            .with_error(err(ErrorClass::MissingUpstream, "NotFound"))];
        let first = derive_status(vec![], &failing, T0, None);
        let types: Vec<&str> = first.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            vec![
                "DependenciesReachable",
                "ModelReady",
                "AuthValid",
                "ConfigValid",
                "Ready"
            ]
        );
        assert_eq!(
            sr(cond(&first, "DependenciesReachable")),
            (False, "InfrastructureError")
        );
        assert_eq!(
            cond(&first, "DependenciesReachable").message,
            "Cannot reach dependencies"
        );
        assert_eq!(sr(cond(&first, "AuthValid")), (False, "AuthError"));
        // InvalidSpec beats MissingUpstream on ConfigValid.
        assert_eq!(sr(cond(&first, "ConfigValid")), (False, "InvalidSpec"));
        // Auth beats the others on Ready.
        assert_eq!(sr(cond(&first, "Ready")), (False, "AuthError"));
        assert_eq!(first.status, Status::Failed);
        assert!(first.blocks_apply && first.has_infra_error);

        let healthy = [comp("Model", Dependency::Upstream)];
        let second = derive_status(first.conditions.clone(), &healthy, T20, None);
        assert_eq!(
            sr(cond(&second, "DependenciesReachable")),
            (True, "Reachable")
        );
        assert_eq!(
            sr(cond(&second, "AuthValid")),
            (True, "AuthenticationValid")
        );
        assert_eq!(
            sr(cond(&second, "ConfigValid")),
            (True, "ConfigurationValid")
        );
        assert_eq!(
            cond(&second, "ConfigValid").message,
            "Configuration is valid"
        );
        assert_eq!(second.status, Status::Ready);
        // Positions are kept.
        let types2: Vec<&str> = second.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, types2);
    }

    #[test]
    fn missing_upstream_sets_reference_not_found() {
        let comps = [comp("Model", Dependency::Upstream)
            .with_error(err(ErrorClass::MissingUpstream, "ModelNotFound"))];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(sr(cond(&out, "ConfigValid")), (False, "ReferenceNotFound"));
        assert_eq!(
            cond(&out, "ConfigValid").message,
            "Referenced resource not found"
        );
        assert_eq!(sr(cond(&out, "Ready")), (False, "ReferenceNotFound"));
        assert_eq!(out.status, Status::Failed);
        assert!(out.blocks_apply && !out.has_infra_error);
    }

    #[test]
    fn last_transition_time_rule() {
        let c1 = [comp("Cache", Dependency::Downstream).with_state(
            Status::Progressing,
            "CacheCreating",
            "a",
        )];
        let first = derive_status(vec![], &c1, T0, None);
        assert_eq!(cond(&first, "CacheReady").last_transition_time, T0);
        // Same status and reason, new message: time kept.
        let c2 = [comp("Cache", Dependency::Downstream).with_state(
            Status::Progressing,
            "CacheCreating",
            "b",
        )];
        let second = derive_status(first.conditions.clone(), &c2, T20, None);
        assert_eq!(cond(&second, "CacheReady").last_transition_time, T0);
        assert_eq!(cond(&second, "CacheReady").message, "b");
        // Same status, new reason: time updated.
        let c3 = [comp("Cache", Dependency::Downstream).with_state(
            Status::Progressing,
            "CacheNotReady",
            "b",
        )];
        let third = derive_status(second.conditions.clone(), &c3, T20, None);
        assert_eq!(cond(&third, "CacheReady").last_transition_time, T20);
        // Ready unchanged (False/Progressing) across all three.
        assert_eq!(cond(&third, "Ready").last_transition_time, T0);
    }

    #[test]
    fn conditions_never_removed_and_stale_counts_as_progressing() {
        let first = derive_status(
            vec![],
            &[
                comp("Model", Dependency::Upstream),
                comp("HPA", Dependency::Downstream).with_state(
                    Status::Progressing,
                    "HPANotFound",
                    "",
                ),
            ],
            T0,
            None,
        );
        assert_eq!(first.status, Status::Progressing);
        // HPA stops reporting: its False condition stays and still counts.
        let second = derive_status(
            first.conditions.clone(),
            &[comp("Model", Dependency::Upstream)],
            T20,
            None,
        );
        assert!(has(&second, "HPAReady"));
        assert_eq!(second.status, Status::Progressing);
        assert_eq!(sr(cond(&second, "Ready")), (False, "Progressing"));
        // A stale upstream-looking condition is Progressing too (no current state).
        let prev = vec![Condition {
            type_: "TemplateReady".into(),
            status: False,
            reason: "TemplateNotFound".into(),
            message: String::new(),
            last_transition_time: T0.into(),
            observed_generation: None,
        }];
        let third = derive_status(prev.clone(), &[], T20, None);
        assert_eq!(third.status, Status::Progressing);
    }

    #[test]
    fn new_conditions_are_appended_after_existing() {
        let prev = vec![Condition {
            type_: "Custom".into(),
            status: True,
            reason: "X".into(),
            message: String::new(),
            last_transition_time: T0.into(),
            observed_generation: Some(1),
        }];
        let out = derive_status(
            prev.clone(),
            &[comp("Model", Dependency::Upstream)],
            T5,
            Some(2),
        );
        let types: Vec<&str> = out.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["Custom", "ModelReady", "Ready"]);
        assert_eq!(cond(&out, "Custom").observed_generation, Some(1));
        assert_eq!(cond(&out, "ModelReady").observed_generation, Some(2));
    }

    #[test]
    fn grace_period_keeps_previous_status_for_infra_errors() {
        let healthy =
            [
                comp("Model", Dependency::Upstream).with_state(
                    Status::Ready,
                    "ModelResolved",
                    "ok",
                ),
            ];
        let base = derive_status(vec![], &healthy, T0, None);
        let flaky = [comp("Model", Dependency::Upstream)
            .with_error(err(ErrorClass::Infrastructure, "Timeout"))];

        // DR flips to False now: within grace, ModelReady stays True with the new reason.
        let during = derive_status(base.conditions.clone(), &flaky, T5, None);
        assert_eq!(sr(cond(&during, "ModelReady")), (True, "Timeout"));
        assert_eq!(
            cond(&during, "DependenciesReachable").last_transition_time,
            T5
        );
        assert_eq!(during.status, Status::Ready);
        assert!(during.has_infra_error && during.blocks_apply);

        // Still failing 15 s after DR became False: the real state shows.
        let after = derive_status(during.conditions.clone(), &flaky, T20, None);
        assert_eq!(sr(cond(&after, "ModelReady")), (False, "Timeout"));
        assert_eq!(after.status, Status::Degraded);
        assert_eq!(sr(cond(&after, "Ready")), (False, "Timeout"));
        assert_eq!(
            cond(&after, "Ready").message,
            "Component Model is not ready: Timeout happened"
        );
    }

    #[test]
    fn grace_period_needs_existing_condition_and_infrastructure_class() {
        let flaky = [comp("Model", Dependency::Upstream)
            .with_error(err(ErrorClass::Infrastructure, "Timeout"))];
        // No previous ModelReady: written from the derived state.
        let out = derive_status(vec![], &flaky, T0, None);
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "Timeout"));
        assert_eq!(out.status, Status::Degraded);

        // Unknown-class errors set DR=False but get no grace.
        let healthy = [comp("Model", Dependency::Upstream)];
        let base = derive_status(vec![], &healthy, T0, None);
        let unknown = [comp("Model", Dependency::Upstream)
            .with_error(err(ErrorClass::Unknown, "UnknownError"))];
        let out = derive_status(base.conditions.clone(), &unknown, T5, None);
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "UnknownError"));
        assert_eq!(
            sr(cond(&out, "DependenciesReachable")),
            (False, "InfrastructureError")
        );
        // Progressing component + infra → Degraded, Ready reason InfrastructureError.
        assert_eq!(out.status, Status::Degraded);
        assert_eq!(sr(cond(&out, "Ready")), (False, "InfrastructureError"));
        assert_eq!(
            cond(&out, "Ready").message,
            "Infrastructure error - waiting for retry"
        );
    }

    #[test]
    fn unparsable_times_grant_no_grace() {
        assert!(within_grace(T0, T5));
        assert!(!within_grace(T0, T20));
        assert!(within_grace(
            "2026-02-01T11:00:00+01:00",
            "2026-02-01T10:00:09.999Z"
        ));
        assert!(!within_grace(
            "2026-02-01T10:00:00.5Z",
            "2026-02-01T10:00:10.5Z"
        ));
        assert!(!within_grace("yesterday", T0));
        assert!(!within_grace(T0, ""));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000_000)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00"), None);
    }

    // ---- §1.5 ----

    #[test]
    fn pending_and_error_states_survive_other_states_follow_dependency() {
        let comps = [
            comp("Pods", Dependency::Unspecified).with_state(Status::Starting, "PodsStarting", ""),
            comp("Model", Dependency::Upstream).with_state(
                Status::Progressing,
                "ModelNotReady",
                "",
            ),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        // Starting (unspecified) → Progressing; Progressing upstream → Pending.
        assert_eq!(out.status, Status::Pending);

        let pods_pending = [comp("Pods", Dependency::Downstream).with_state(
            Status::Pending,
            "FailedScheduling",
            "0/3 nodes",
        )];
        assert_eq!(
            derive_status(vec![], &pods_pending, T0, None).status,
            Status::Pending
        );

        let na = [comp("Template", Dependency::Upstream).with_state(
            Status::NotAvailable,
            "TemplateNotReady",
            "no GPUs",
        )];
        let out = derive_status(vec![], &na, T0, None);
        assert_eq!(out.status, Status::NotAvailable);
        assert_eq!(sr(cond(&out, "Ready")), (False, "TemplateNotReady"));
    }

    #[test]
    fn ready_names_first_error_component_in_stored_order() {
        let prev = vec![Condition {
            type_: "CacheReady".into(),
            status: True,
            reason: "CacheReady".into(),
            message: String::new(),
            last_transition_time: T0.into(),
            observed_generation: None,
        }];
        let comps = [
            comp("Model", Dependency::Upstream).with_state(Status::Degraded, "ModelDegraded", "m"),
            comp("Cache", Dependency::Downstream).with_state(Status::Failed, "CacheFailed", "c"),
        ];
        let out = derive_status(prev.clone(), &comps, T5, None);
        // CacheReady is stored first, so it names the Ready reason; worst is Failed.
        assert_eq!(sr(cond(&out, "Ready")), (False, "CacheFailed"));
        assert_eq!(
            cond(&out, "Ready").message,
            "Component Cache is not ready: c"
        );
        assert_eq!(out.status, Status::Failed);
    }

    #[test]
    fn empty_named_component_is_omitted_but_errors_count() {
        let comps = [
            comp("Model", Dependency::Upstream),
            comp("", Dependency::Downstream),
        ];
        let first = derive_status(vec![], &comps, T0, None);
        let types: Vec<&str> = first.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["ModelReady", "Ready"]);
        // Ready keeps its time across reconciles (no [ref] empty-component churn).
        let second = derive_status(first.conditions.clone(), &comps, T20, None);
        assert_eq!(cond(&second, "Ready").last_transition_time, T0);

        let erring =
            [comp("", Dependency::Downstream).with_error(err(ErrorClass::InvalidSpec, "Bad"))];
        let out = derive_status(vec![], &erring, T0, None);
        assert_eq!(out.status, Status::Failed);
        assert!(out.blocks_apply);
    }

    #[test]
    fn resource_exhaustion_fails_component_without_blocking() {
        let comps = [comp("Pods", Dependency::Unspecified)
            .with_error(err(ErrorClass::ResourceExhaustion, "OOMKilled"))];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(out.status, Status::Failed);
        assert!(!out.blocks_apply);
        assert!(!has(&out, "ConfigValid"));
        assert_eq!(sr(cond(&out, "Ready")), (False, "OOMKilled"));
    }

    #[test]
    fn missing_downstream_is_progressing_and_does_not_block() {
        let comps = [comp("Pods", Dependency::Unspecified)
            .with_error(err(ErrorClass::MissingDownstream, "NoPods"))];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(out.status, Status::Progressing);
        assert!(!out.blocks_apply);
        assert_eq!(sr(cond(&out, "Ready")), (False, "Progressing"));
        assert_eq!(
            cond(&out, "Ready").message,
            "Waiting for components to become ready"
        );
    }

    #[test]
    fn decoration_conditions_take_part_in_ready() {
        let out = derive_status_with(
            vec![],
            &[comp("RuntimeConfig", Dependency::Upstream)],
            T0,
            None,
            |set| {
                set.set(
                    "ArtifactsReady",
                    False,
                    "CreatingCaches",
                    "Waiting",
                    Level::Info,
                );
                set.set("Discovered", True, "Done", "", Level::Info);
            },
        );
        let types: Vec<&str> = out.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            vec![
                "RuntimeConfigReady",
                "ArtifactsReady",
                "Discovered",
                "Ready"
            ]
        );
        assert_eq!(out.status, Status::Progressing);
    }

    // ---- §1.6 / §1.8 ----

    #[test]
    fn events_warning_every_time_normal_on_transition() {
        let comps = [
            comp("Model", Dependency::Upstream).with_state(Status::Ready, "ModelResolved", ""),
            comp("Cache", Dependency::Downstream).with_state(
                Status::Failed,
                "CacheFailed",
                "Template cache failed",
            ),
        ];
        let first = derive_status(vec![], &comps, T0, None);
        assert_eq!(
            first.events,
            vec![
                EventRecord {
                    type_: EventType::Normal,
                    reason: "ModelResolved".into(),
                    message: "Model is ready: ModelResolved".into()
                },
                EventRecord {
                    type_: EventType::Warning,
                    reason: "CacheFailed".into(),
                    message: "Template cache failed".into()
                },
                EventRecord {
                    type_: EventType::Warning,
                    reason: "CacheFailed".into(),
                    message: "Component Cache is not ready: Template cache failed".into()
                },
            ]
        );
        // Nothing changed: only the recurring warnings.
        let second = derive_status(first.conditions.clone(), &comps, T5, None);
        assert!(second.events.iter().all(|e| e.type_ == EventType::Warning));
        assert_eq!(second.events.len(), 2);
    }

    #[test]
    fn event_message_fallbacks() {
        let c = |status| Condition {
            type_: "PodsReady".into(),
            status,
            reason: "R".into(),
            message: String::new(),
            last_transition_time: T0.into(),
            observed_generation: None,
        };
        assert_eq!(
            event_for(&c(True), EventType::Normal).message,
            "Pods is ready: R"
        );
        assert_eq!(
            event_for(&c(False), EventType::Normal).message,
            "Pods is not ready: R"
        );
        assert_eq!(
            event_for(&c(ConditionStatus::Unknown), EventType::Normal).message,
            "Pods status unknown: R"
        );
    }

    #[test]
    fn normal_events_only_for_conditions_whose_status_or_reason_changed() {
        let progressing = |reason: &str| {
            [comp("Model", Dependency::Upstream).with_state(Status::Progressing, reason, "m")]
        };
        let mut stored = derive_status(vec![], &progressing("Pulling"), T0, None).conditions;
        // a condition no component writes any more stays, and says nothing
        let gone = Condition {
            type_: "GoneReady".into(),
            status: False,
            reason: "Old".into(),
            message: String::new(),
            last_transition_time: T0.into(),
            observed_generation: None,
        };
        stored.push(gone.clone());
        let normal = |out: &StatusOutcome| -> Vec<String> {
            out.events
                .iter()
                .filter(|e| e.type_ == EventType::Normal)
                .map(|e| e.reason.clone())
                .collect()
        };

        let same = derive_status(stored.clone(), &progressing("Pulling"), T5, None);
        assert_eq!(normal(&same), Vec::<String>::new());
        assert_eq!(cond(&same, "GoneReady"), &gone);

        // the same status with another reason is a change
        let moved = derive_status(stored, &progressing("Loading"), T5, None);
        assert_eq!(sr(cond(&moved, "ModelReady")), (False, "Loading"));
        assert_eq!(cond(&moved, "ModelReady").last_transition_time, T5);
        assert_eq!(normal(&moved), vec!["Loading".to_string()]);
    }

    #[test]
    fn framework_false_conditions_warn_and_recovery_is_normal() {
        let bad =
            [comp("Model", Dependency::Upstream).with_error(err(ErrorClass::Auth, "Forbidden"))];
        let first = derive_status(vec![], &bad, T0, None);
        let warn_reasons: Vec<&str> = first
            .events
            .iter()
            .filter(|e| e.type_ == EventType::Warning)
            .map(|e| e.reason.as_str())
            .collect();
        assert_eq!(warn_reasons, vec!["Forbidden", "AuthError", "AuthError"]);
        let good = [comp("Model", Dependency::Upstream)];
        let second = derive_status(first.conditions.clone(), &good, T5, None);
        assert!(second.events.iter().all(|e| e.type_ == EventType::Normal));
        let reasons: Vec<&str> = second.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec!["Ready", "AuthenticationValid", "AllComponentsReady"]
        );
    }

    // ---- §12 worked outcomes ----

    fn model_ready() -> ComponentHealth {
        comp("Model", Dependency::Upstream).with_state(
            Status::Ready,
            "ModelResolved",
            "AIMModel m is ready",
        )
    }

    fn template_ready() -> ComponentHealth {
        comp("Template", Dependency::Upstream).with_state(
            Status::Ready,
            "Resolved",
            "AIMServiceTemplate t is ready",
        )
    }

    fn cache(state: Status, reason: &str) -> ComponentHealth {
        comp("Cache", Dependency::Downstream).with_state(state, reason, "")
    }

    fn service(out: &StatusOutcome) -> &'static str {
        service_status_value(out.status)
    }

    #[test]
    fn worked_model_name_missing() {
        let comps = [
            comp("Model", Dependency::Upstream)
                .with_state(Status::Failed, "", "")
                .with_error(ClassifiedError::new(
                    ErrorClass::MissingUpstream,
                    "ModelNotFound",
                    "model \"x\" not found in namespace ns or cluster scope",
                )),
            comp("Template", Dependency::Upstream).with_state(
                Status::Pending,
                "TemplateNotFound",
                "No template found for service",
            ),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(service(&out), "Failed");
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "ModelNotFound"));
        assert_eq!(sr(cond(&out, "ConfigValid")), (False, "ReferenceNotFound"));
        assert_eq!(sr(cond(&out, "Ready")), (False, "ReferenceNotFound"));
        assert!(out.blocks_apply);
    }

    #[test]
    fn worked_explicit_template_missing() {
        let comps = [
            model_ready(),
            comp("Template", Dependency::Upstream)
                .with_state(Status::Failed, "", "")
                .with_error(ClassifiedError::new(
                    ErrorClass::MissingUpstream,
                    "TemplateNotFound",
                    "template \"t\" not found",
                )),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(service(&out), "Failed");
        assert_eq!(sr(cond(&out, "TemplateReady")), (False, "TemplateNotFound"));
    }

    #[test]
    fn worked_no_template_for_ready_model() {
        let comps = [
            model_ready(),
            comp("Template", Dependency::Upstream).with_state(
                Status::Pending,
                "TemplateNotFound",
                "No template found for service",
            ),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(service(&out), "Pending");
        assert_eq!(sr(cond(&out, "ModelReady")), (True, "ModelResolved"));
        assert_eq!(sr(cond(&out, "TemplateReady")), (False, "TemplateNotFound"));
    }

    #[test]
    fn worked_model_progressing_or_failed_or_template_failed() {
        let progressing = [
            comp("Model", Dependency::Upstream).with_state(
                Status::Progressing,
                "ModelNotReady",
                "AIMModel m is not ready yet",
            ),
            template_ready(),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &progressing, T0, None);
        assert_eq!(service(&out), "Pending");
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "ModelNotReady"));

        let failed = [
            comp("Model", Dependency::Upstream).with_state(
                Status::Failed,
                "ModelNotReady",
                "AIMModel m is in failed state",
            ),
            template_ready(),
        ];
        let out = derive_status(vec![], &failed, T0, None);
        assert_eq!(service(&out), "Failed");
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "ModelNotReady"));
        assert!(!out.blocks_apply);

        let template_failed = [
            model_ready(),
            comp("Template", Dependency::Upstream).with_state(
                Status::Progressing,
                "TemplateNotReady",
                "Templates exist but are not ready yet",
            ),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &template_failed, T0, None);
        assert_eq!(service(&out), "Pending");
        assert_eq!(sr(cond(&out, "TemplateReady")), (False, "TemplateNotReady"));
    }

    #[test]
    fn worked_starting_then_running() {
        let resolved = [
            model_ready(),
            template_ready(),
            cache(Status::Progressing, "CacheCreating"),
        ];
        let out = derive_status(vec![], &resolved, T0, None);
        assert_eq!(service(&out), "Starting");
        assert_eq!(sr(cond(&out, "TemplateReady")), (True, "Resolved"));

        let isvc_creating = [
            model_ready(),
            template_ready(),
            cache(Status::Ready, "CacheReady"),
            comp("InferenceService", Dependency::Downstream).with_state(
                Status::Progressing,
                "CreatingRuntime",
                "InferenceService is not ready",
            ),
            comp("InferenceServicePods", Dependency::Unspecified).with_state(
                Status::Starting,
                "PodsStarting",
                "",
            ),
        ];
        let out = derive_status(vec![], &isvc_creating, T0, None);
        assert_eq!(service(&out), "Starting");
        assert_eq!(
            sr(cond(&out, "InferenceServiceReady")),
            (False, "CreatingRuntime")
        );

        let unschedulable = [
            model_ready(),
            template_ready(),
            cache(Status::Ready, "CacheReady"),
            comp("InferenceService", Dependency::Downstream).with_state(
                Status::Progressing,
                "CreatingRuntime",
                "",
            ),
            comp("InferenceServicePods", Dependency::Unspecified).with_state(
                Status::Pending,
                "FailedScheduling",
                "0/3 nodes are available",
            ),
        ];
        let out = derive_status(vec![], &unschedulable, T0, None);
        assert_eq!(service(&out), "Pending");
        assert_eq!(
            sr(cond(&out, "InferenceServicePodsReady")),
            (False, "FailedScheduling")
        );

        let all_ready = [
            model_ready(),
            template_ready(),
            cache(Status::Ready, "CacheReady"),
            comp("InferenceService", Dependency::Downstream).with_state(
                Status::Ready,
                "RuntimeReady",
                "",
            ),
            comp("InferenceServicePods", Dependency::Unspecified).with_state(
                Status::Ready,
                "PodsReady",
                "",
            ),
        ];
        let out = derive_status(vec![], &all_ready, T0, None);
        assert_eq!(service(&out), "Running");
        assert_eq!(sr(cond(&out, "Ready")), (True, "AllComponentsReady"));
    }

    #[test]
    fn worked_cache_deleted_under_running_service() {
        for (reason, msg) in [
            (
                "CacheCreating",
                "Dedicated template cache is being recreated",
            ),
            (
                "CacheLost",
                "Shared template cache was deleted but InferenceService still references cached storage volumes",
            ),
        ] {
            let comps = [
                model_ready(),
                template_ready(),
                comp("Cache", Dependency::Downstream).with_state(Status::Degraded, reason, msg),
                comp("InferenceService", Dependency::Downstream).with_state(
                    Status::Ready,
                    "RuntimeReady",
                    "",
                ),
            ];
            let out = derive_status(vec![], &comps, T0, None);
            assert_eq!(service(&out), "Degraded");
            assert_eq!(sr(cond(&out, "CacheReady")), (False, reason));
            assert!(!out.blocks_apply, "the cache must be re-planned");
        }
    }

    #[test]
    fn worked_routing_without_gateway() {
        let comps = [
            model_ready(),
            template_ready(),
            comp("HTTPRoute", Dependency::Downstream).with_state(Status::Failed, "", "").with_error(ClassifiedError::new(
                ErrorClass::InvalidSpec,
                "GatewayNotConfigured",
                "Routing is enabled but no gatewayRef is configured in service or runtime config",
            )),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(service(&out), "Failed");
        assert_eq!(
            sr(cond(&out, "HTTPRouteReady")),
            (False, "GatewayNotConfigured")
        );
        assert_eq!(sr(cond(&out, "ConfigValid")), (False, "InvalidSpec"));
        assert!(out.blocks_apply);
    }

    #[test]
    fn worked_image_shared_by_two_models() {
        let comps = [
            comp("Model", Dependency::Upstream)
                .with_state(Status::Failed, "", "")
                .with_error(ClassifiedError::new(
                    ErrorClass::Unknown,
                    "UnknownError",
                    "multiple models found with the same image",
                )),
            comp("Template", Dependency::Upstream).with_state(
                Status::Pending,
                "TemplateNotFound",
                "",
            ),
        ];
        let out = derive_status(vec![], &comps, T0, None);
        assert_eq!(service(&out), "Degraded");
        assert_eq!(sr(cond(&out, "ModelReady")), (False, "UnknownError"));
        assert_eq!(
            sr(cond(&out, "DependenciesReachable")),
            (False, "InfrastructureError")
        );
        assert!(out.has_infra_error && out.blocks_apply);
    }
}
