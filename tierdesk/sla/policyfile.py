"""Provider policy files: a TOML file in, validated dataclasses out.

A support provider describes how its desk runs in one TOML file: who it is,
its priorities, how impact and urgency pick a priority, its categories, its
business calendars, the plans it sells (targets per priority on a calendar),
which statuses stop the clock, and its escalation rules. The format is
documented, with a complete example, in docs/POLICY_FILE.md; one file per
seeded provider lives in tierdesk/sla/presets/.

This module is pure (no Django, no database): `load_policy_file` reads and
checks a file and returns a `PolicyFile`; installing it into the database is the
Django side's job. Every problem found is reported with the line it is on and
the dotted key path, all at once, so that a provider fixes a file in one pass.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tierdesk.sla.engine import TARGET_NAMES, Calendar, Policy

LANGUAGES = ("en", "es")
# The desk's statuses (tierdesk.tickets.lifecycle.Status); repeated here because
# this module may not import Django. Only waiting on someone else stops a clock.
DESK_STATUSES = ("new", "open", "in_progress", "waiting_customer", "waiting_third_party",
                 "resolved", "closed")
PAUSABLE_STATUSES = ("waiting_customer", "waiting_third_party")
INTAKE_SETS = ("impact", "urgency")
DEFAULT_REOPEN_DAYS = 14
DEFAULT_AUTO_CLOSE_DAYS = 7
PRESETS_DIR = Path(__file__).with_name("presets")

# A target in the engine's form: minutes, {"business_days": n} or {"end_of_business_day": n}.
Target = int | dict[str, int]
# A text in one or more languages: {"en": "...", "es": "..."}.
Text = dict[str, str]
KeyPath = tuple[str | int, ...]

_LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
# Codes become slugs in the database; the limits are the columns' lengths.
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CODE_LIMITS = {"priority": 30, "plan": 50, "calendar": 50, "category": 80, "choice": 20}
_DURATION_HINT = "write minutes, '2h', '30m', '3d' or 'end of next business day'"


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file: where (line, key path) and what."""

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = ", ".join(part for part in (f"line {self.line}" if self.line else "",
                                            self.path) if part)
        return f"{where}: {self.message}" if where else self.message


class PolicyFileError(ValueError):
    """A policy file (or a contract's targets) that Tierdesk cannot run; lists every problem."""

    def __init__(self, problems: list[Problem], *, source: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0))
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            summary = f"{head}{self.problems[0]}"
        else:
            summary = f"{head}{len(self.problems)} problems\n" + "\n".join(
                f"  {problem}" for problem in self.problems)
        super().__init__(summary)


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Provider:
    name: str
    language: str
    timezone: str
    support_email: str | None = None
    phone: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class Choice:
    """A coded, named item: a priority, an impact, an urgency, a tier."""

    code: str
    name: Text
    description: Text = field(default_factory=dict)

    def label(self, language: str = "en") -> str:
        return self.name.get(language) or self.name["en"]


@dataclass(frozen=True)
class ImpactMatrix:
    """Impact (and optionally urgency) → priority, as the dispatcher's table (seed 003)."""

    impacts: tuple[Choice, ...]
    urgencies: tuple[Choice, ...]  # empty: the priority follows the impact alone
    cells: Mapping[tuple[str, str | None], str]

    def priority_for(self, impact: str, urgency: str | None = None) -> str:
        if not self.urgencies:
            urgency = None
        try:
            return self.cells[(impact, urgency)]
        except KeyError:
            raise ValueError(f"no priority for impact {impact!r}, urgency {urgency!r}") from None


@dataclass(frozen=True)
class Category:
    code: str
    name: Text
    description: Text = field(default_factory=dict)
    # priority code -> when to choose it for this family (seed 002's "Priority Levels")
    guidance: Mapping[str, Text] = field(default_factory=dict)
    children: tuple[Category, ...] = ()


@dataclass(frozen=True)
class Plan:
    code: str
    name: Text
    calendar: str
    targets: Mapping[str, Mapping[str, Target]]  # target name -> priority -> target
    description: Text = field(default_factory=dict)
    pause_statuses: tuple[str, ...] | None = None  # None: the desk's

    def label(self, language: str = "en") -> str:
        return self.name.get(language) or self.name["en"]


@dataclass(frozen=True)
class IntakeQuestion:
    """A question asked when a ticket is opened; `sets` ties its answer to the matrix."""

    code: str
    text: Text
    required: bool = True
    sets: str | None = None  # "impact" | "urgency" | None


@dataclass(frozen=True)
class EscalationRule:
    """An escalation rule kept as data: its meaning belongs to tierdesk.automation."""

    name: str
    when: Any
    then: Any
    line: int | None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitmentTerms:
    """`[commitment]`: when the tier-2/3 engineer owes the customer a time-frame (seed 000);
    its roles are checked by tierdesk.automation, which acts on it."""

    due_within: int  # business minutes after the engineer is given the ticket
    remind_at: float  # share of due_within
    escalate_to: tuple[str, ...]
    enabled: bool
    line: int | None


@dataclass(frozen=True)
class PolicyFile:
    provider: Provider
    priorities: tuple[Choice, ...]  # most urgent first
    calendars: Mapping[str, dict[str, Any]]  # code -> engine spec (time zone filled in)
    plans: Mapping[str, Plan]
    default_plan: str
    pause_statuses: tuple[str, ...]
    reopen_days: int | None  # None: a customer may reopen at any time
    auto_close_days: int | None  # None: resolved tickets are never closed automatically
    matrix: ImpactMatrix | None = None
    categories: tuple[Category, ...] = ()
    tiers: tuple[Choice, ...] = ()
    intake: tuple[IntakeQuestion, ...] = ()
    escalations: tuple[EscalationRule, ...] = ()
    source: str | None = None
    commitment: CommitmentTerms | None = None

    @property
    def priority_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.priorities)

    def priority(self, code: str) -> Choice:
        for priority in self.priorities:
            if priority.code == code:
                return priority
        raise KeyError(code)

    def calendar(self, code: str) -> Calendar:
        return Calendar.from_dict(copy.deepcopy(self.calendars[code]))

    def engine_policy(self, plan_code: str | None = None, *,
                      overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """The `Policy.from_dict` input for a plan, with a contract's tighter targets applied.

        `overrides` is an organisation's contract ({target: {priority: duration}});
        it may only tighten the plan (see `tighten`).
        """
        plan = self.plans[plan_code or self.default_plan]
        targets: Mapping[str, Mapping[str, Target]] = plan.targets
        if overrides:
            targets = tighten(plan.targets, overrides, priorities=self.priority_codes)
        pause = plan.pause_statuses if plan.pause_statuses is not None else self.pause_statuses
        return {
            "calendar": copy.deepcopy(self.calendars[plan.calendar]),
            "targets": {name: dict(by_priority) for name, by_priority in targets.items()},
            "pause_statuses": list(pause),
        }

    def iter_categories(self) -> Iterator[tuple[str | None, int, Category]]:
        """(parent code, position among siblings, category), parents before children."""

        def walk(parent: str | None,
                 nodes: tuple[Category, ...]) -> Iterator[tuple[str | None, int, Category]]:
            for position, node in enumerate(nodes):
                yield parent, position, node
                yield from walk(node.code, node.children)

        yield from walk(None, self.categories)


# --------------------------------------------------------------------------- durations


def parse_duration(value: Any) -> Target:
    """A target as a person writes it, in the engine's form. Raises ValueError.

    90 or "90" -> 90 (minutes); "30m", "2h", "1h30m" -> minutes; "3d" ->
    {"business_days": 3}; "next business day" / "end of next business day" ->
    {"end_of_business_day": 1}; the engine's own tables are accepted as they are.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    if isinstance(value, int):
        return _positive(value, value)
    if isinstance(value, Mapping):
        if len(value) != 1 or next(iter(value)) not in ("business_days", "end_of_business_day"):
            raise ValueError(f"{dict(value)!r} is not a duration; {_DURATION_HINT}")
        ((kind, number),) = value.items()
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{kind} must be a whole number, not {number!r}")
        return {kind: _positive(number, number)}
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    text = " ".join(value.lower().split())
    negative = text.startswith("-")
    body = text.lstrip("-").strip()
    parsed: Target | None = None
    if body in ("next business day", "end of next business day"):
        parsed = {"end_of_business_day": 1}
    elif body.isdigit():
        parsed = int(body)
    elif match := re.fullmatch(r"(\d+) ?d", body):
        parsed = {"business_days": int(match[1])}
    elif (match := re.fullmatch(r"(?:(\d+) ?h)? ?(?:(\d+) ?m)?", body)) and body:
        parsed = int(match[1] or 0) * 60 + int(match[2] or 0)
    if parsed is None:
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    if negative:
        raise ValueError(f"{value!r} is negative; a target must be a positive duration")
    amount = parsed if isinstance(parsed, int) else next(iter(parsed.values()))
    _positive(amount, value)
    return parsed


def _positive(number: int, written: Any) -> int:
    if number < 0:
        raise ValueError(f"{written!r} is negative; a target must be a positive duration")
    if number == 0:
        raise ValueError(f"{written!r} is zero; a target must be more than zero")
    return number


def format_duration(target: Target) -> str:
    """A target as a person reads it: "1h30m", "3d", "end of next business day"."""
    if isinstance(target, int):
        hours, minutes = divmod(target, 60)
        return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")
    ((kind, number),) = target.items()
    if kind == "business_days":
        return f"{number}d"
    if number == 1:
        return "end of next business day"
    return f"end of business day {number}"


def _kind_and_amount(target: Target) -> tuple[str, int]:
    if isinstance(target, int):
        return "minutes", target
    ((kind, number),) = target.items()
    return kind, number


def tighten(base_targets: Mapping[str, Mapping[str, Any]],
            override_targets: Mapping[str, Mapping[str, Any]], *,
            priorities: tuple[str, ...] | None = None) -> dict[str, dict[str, Target]]:
    """A plan's targets with an organisation's contract applied; it may only tighten.

    A contract is never worse than the published SLA (seed 004: "en ningún caso
    podrán ser inferiores a los aquí expuestos"). Each offered target must be ≤
    the published one in the same unit; a target the plan does not publish may
    be added. A looser or incomparable target raises PolicyFileError naming the
    target, the priority and both values. Values may be written as in a policy
    file ("2h", "3d", ...); the result is in the engine's form.
    """
    problems: list[Problem] = []
    merged: dict[str, dict[str, Target]] = {}
    for name, by_priority in base_targets.items():
        merged[name] = {prio: parse_duration(value) for prio, value in by_priority.items()}
    for name, by_priority in override_targets.items():
        if name not in TARGET_NAMES:
            problems.append(Problem(None, name, _unknown("target", name, TARGET_NAMES)))
            continue
        if not isinstance(by_priority, Mapping):
            problems.append(Problem(None, name, "expected a table of priority = duration"))
            continue
        for prio, value in by_priority.items():
            path = f"{name}.{prio}"
            if priorities is not None and prio not in priorities:
                problems.append(Problem(None, path, _unknown("priority", prio, priorities)))
                continue
            try:
                offered = parse_duration(value)
            except ValueError as exc:
                problems.append(Problem(None, path, str(exc)))
                continue
            published = merged.get(name, {}).get(prio)
            if published is not None:
                problem = _compare(published, offered)
                if problem:
                    problems.append(Problem(None, path, problem))
                    continue
            merged.setdefault(name, {})[prio] = offered
    if problems:
        raise PolicyFileError(problems, source="contract")
    return merged


def _compare(published: Target, offered: Target) -> str | None:
    (kind, amount), (offered_kind, offered_amount) = (_kind_and_amount(published),
                                                      _kind_and_amount(offered))
    shown = f"published {format_duration(published)}, offered {format_duration(offered)}"
    if kind != offered_kind:
        return (f"cannot compare with the published target ({shown}); write the contract's "
                f"target in the same unit as the published one")
    if offered_amount > amount:
        return (f"looser than the published target ({shown}); a contract may only make a "
                f"target tighter")
    return None


# --------------------------------------------------------------------------- loading


def load_policy_file(path_or_text: str | os.PathLike[str], *,
                     source: str | None = None) -> PolicyFile:
    """Read, parse and check a policy file; raise PolicyFileError listing every problem.

    A Path (or a string without a newline or "=") is read as a file; any other
    string is the TOML text itself.
    """
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text
            and "=" not in path_or_text):
        path = Path(path_or_text)
        text = path.read_text(encoding="utf-8")
        source = source or str(path)
    else:
        text = str(path_or_text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError([_syntax_problem(exc)], source=source) from None
    checker = _Checker(_KeyLines(text))
    policy = checker.policy_file(data)
    if checker.problems or policy is None:
        raise PolicyFileError(checker.problems, source=source)
    return replace(policy, source=source)


def preset_codes() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml"))


def load_preset(code: str) -> PolicyFile:
    if code not in preset_codes():
        raise KeyError(f"no preset {code!r}; the presets are: {', '.join(preset_codes())}")
    return load_policy_file(PRESETS_DIR / f"{code}.toml")


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        message = message[:match.start()].rstrip() + f" (column {match[2]})"
        return Problem(int(match[1]), "", f"not valid TOML: {message}")
    return Problem(None, "", f"not valid TOML: {message}")


def _unknown(what: str, value: Any, known: Any) -> str:
    known = list(known)
    close = difflib.get_close_matches(str(value), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none are defined"
    return f"unknown {what} {value!r}{hint} (known: {listed})"


# The families of seed 002 ("5. Issue Categorization"), with its examples as
# children: what a provider gets when its file has no [[categories]].
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("technical", {"en": "Technical issues", "es": "Incidencias técnicas"},
             {"en": "Software, hardware or network problems."}, children=(
                 Category("system-crash", {"en": "System crash", "es": "Caída del sistema"}),
                 Category("software-error", {"en": "Software error", "es": "Error de software"}),
                 Category("connectivity", {"en": "Connectivity", "es": "Conectividad"}),
                 Category("performance", {"en": "Performance degradation",
                                          "es": "Degradación del rendimiento"}),
             )),
    Category("billing", {"en": "Billing and financial issues",
                         "es": "Facturación y asuntos financieros"},
             {"en": "Invoices, payment processing, subscriptions."}, children=(
                 Category("invoice", {"en": "Invoice discrepancy",
                                      "es": "Discrepancia en una factura"}),
                 Category("payment", {"en": "Payment processing", "es": "Procesamiento de pagos"}),
                 Category("subscription", {"en": "Subscription", "es": "Suscripción"}),
             )),
    Category("infrastructure", {"en": "Infrastructure and maintenance",
                                "es": "Infraestructura y mantenimiento"},
             {"en": "Server maintenance, upgrades and infrastructure changes."}, children=(
                 Category("server-maintenance", {"en": "Server maintenance",
                                                 "es": "Mantenimiento de servidores"}),
                 Category("upgrade", {"en": "Upgrade", "es": "Actualización"}),
                 Category("infrastructure-change", {"en": "Infrastructure change",
                                                    "es": "Cambio de infraestructura"}),
             )),
    Category("security", {"en": "Security and compliance", "es": "Seguridad y cumplimiento"},
             {"en": "Data breaches, vulnerabilities and regulatory compliance."}, children=(
                 Category("data-breach", {"en": "Data breach", "es": "Brecha de datos"}),
                 Category("vulnerability", {"en": "Vulnerability", "es": "Vulnerabilidad"}),
                 Category("compliance", {"en": "Regulatory compliance",
                                         "es": "Cumplimiento normativo"}),
             )),
)


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class _Desk:
    pause_statuses: tuple[str, ...]
    default_plan: str | None
    reopen_days: int | None
    auto_close_days: int | None


class _Checker:
    """Turns tomllib's dicts into the dataclasses, collecting every problem on the way."""

    def __init__(self, lines: _KeyLines) -> None:
        self.lines = lines
        self.problems: list[Problem] = []
        self.language = "en"
        self.priority_codes: tuple[str, ...] = ()
        self.broken_calendars: set[Any] = set()
        self.declared: dict[str, list[str]] = {}

    def problem(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.lines.line(path), _dotted(path), message))

    # -- shapes

    def table(self, value: Any, path: KeyPath, *, allowed: tuple[str, ...],
              required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected a table, not {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.problem((*path, key), _unknown("key", key, allowed))
        for key in required:
            if key not in value:
                where = f"[{_dotted(path)}]" if path else "the file"
                self.problem(path, f"{where} needs {key!r}")
        return value

    def tables(self, value: Any, path: KeyPath) -> list[tuple[KeyPath, Any]]:
        """The items of an array of tables, each with its path."""
        if not isinstance(value, list):
            self.problem(path, f"expected an array of tables ([[{_dotted(path)}]]), "
                               f"not {_kind(value)}")
            return []
        return [((*path, index), item) for index, item in enumerate(value)]

    def string(self, value: Any, path: KeyPath) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"expected a non-empty string, not {_kind(value)}")
            return None
        return value.strip()

    def code(self, value: Any, path: KeyPath, what: str) -> str | None:
        text = self.string(value, path)
        if text is None:
            return None
        limit = _CODE_LIMITS[what]
        if not _CODE.fullmatch(text) or len(text) > limit:
            self.problem(path, f"{text!r} is not a valid code: use lower-case letters, digits, "
                               f"'-' and '_', at most {limit} characters")
            return None
        return text

    def text(self, value: Any, path: KeyPath, *, every_language: bool) -> Text | None:
        """A text: a string in the provider's language, or {en = ..., es = ...}.

        Names must be given in every language the desk speaks (`every_language`).
        """
        if isinstance(value, str) and not every_language:
            return {self.language: value.strip()} if value.strip() else None
        if not isinstance(value, dict):
            self.problem(path, "expected the text in every language, e.g. "
                               '{ en = "Critical", es = "Crítica" }' if every_language else
                               'expected a string or a table such as { en = "...", es = "..." }')
            return None
        result: Text = {}
        for language, words in value.items():
            if language not in LANGUAGES:
                self.problem((*path, language), _unknown("language", language, LANGUAGES))
            elif (words := self.string(words, (*path, language))) is not None:
                result[language] = words
        if every_language:
            for language in LANGUAGES:
                if language not in value:
                    self.problem(path, f"missing the {_LANGUAGE_NAMES[language]} text "
                                       f"({language} = \"...\")")
        return result if result else None

    def choices(self, value: Any, path: KeyPath, what: str) -> tuple[Choice, ...]:
        found: list[Choice] = []
        # Every well-formed code, even of an item with other mistakes, so that
        # references to it are not reported as unknown too.
        seen: list[str] = self.declared.setdefault(what, [])
        for item_path, item in self.tables(value, path):
            table = self.table(item, item_path, allowed=("code", "name", "description"),
                               required=("code", "name"))
            if table is None:
                continue
            code = self.code(table.get("code"), (*item_path, "code"),
                             "priority" if what == "priority" else "choice") \
                if "code" in table else None
            name = self.text(table["name"], (*item_path, "name"), every_language=True) \
                if "name" in table else None
            description = self.text(table.get("description", {}), (*item_path, "description"),
                                    every_language=False) or {}
            if code and code in seen:
                self.problem((*item_path, "code"), f"duplicate {what} {code!r}: each {what} "
                                                    f"is listed once")
                continue
            if code:
                seen.append(code)
                if name:
                    found.append(Choice(code, name, description))
        return tuple(found)

    # -- the file

    def policy_file(self, data: dict[str, Any]) -> PolicyFile | None:
        root = self.table(data, (), allowed=(
            "provider", "desk", "priorities", "matrix", "categories", "calendars", "plans",
            "tiers", "intake", "escalations", "commitment"),
            required=("provider", "desk", "priorities", "calendars", "plans"))
        assert root is not None
        provider = self.provider(root["provider"]) if "provider" in root else None
        if provider:
            self.language = provider.language
        priorities = self.choices(root.get("priorities", []), ("priorities",), "priority")
        if root.get("priorities") == []:
            self.problem(("priorities",), "list at least one priority")
        self.priority_codes = tuple(self.declared["priority"])
        desk = self.desk(root["desk"]) if "desk" in root else None
        calendars = self.calendars(root.get("calendars", {}), provider)
        plans = self.plans(root.get("plans", {}), calendars, desk.pause_statuses if desk else ())
        default_plan = next(iter(plans), "")
        if desk and desk.default_plan is not None:
            default_plan = desk.default_plan
            written = root.get("plans")
            # A plan that is written but broken is already reported.
            if default_plan not in (written if isinstance(written, dict) else plans):
                self.problem(("desk", "default_plan"), _unknown("plan", default_plan, plans))
        matrix = self.matrix(root["matrix"]) if "matrix" in root else None
        categories = (self.categories(root["categories"], ("categories",), set())
                      if "categories" in root else DEFAULT_CATEGORIES)
        tiers = self.choices(root.get("tiers", []), ("tiers",), "tier")
        intake = self.intake(root.get("intake", []), matrix)
        escalations = self.escalations(root.get("escalations", []))
        commitment = self.commitment(root["commitment"]) if "commitment" in root else None
        if self.problems or provider is None or desk is None:
            return None
        return PolicyFile(
            provider=provider, priorities=priorities, calendars=calendars, plans=plans,
            default_plan=default_plan, pause_statuses=desk.pause_statuses,
            reopen_days=desk.reopen_days, auto_close_days=desk.auto_close_days, matrix=matrix,
            categories=categories, tiers=tiers, intake=intake, escalations=escalations,
            commitment=commitment)

    def provider(self, value: Any) -> Provider | None:
        path: KeyPath = ("provider",)
        table = self.table(value, path, allowed=(
            "name", "language", "timezone", "support_email", "phone", "website"),
            required=("name", "language", "timezone"))
        if table is None:
            return None
        name = self.string(table.get("name"), (*path, "name")) if "name" in table else None
        language = table.get("language")
        if "language" in table and language not in LANGUAGES:
            self.problem((*path, "language"), _unknown("language", language, LANGUAGES))
            language = None
        timezone = self.timezone(table["timezone"], (*path, "timezone")) \
            if "timezone" in table else None
        optional: dict[str, str | None] = {}
        for key in ("support_email", "phone", "website"):
            optional[key] = self.string(table[key], (*path, key)) if key in table else None
        email = optional["support_email"]
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            self.problem((*path, "support_email"), f"{email!r} is not an e-mail address")
        if not (name and language and timezone):
            return None
        return Provider(name=name, language=language, timezone=timezone, **optional)

    def timezone(self, value: Any, path: KeyPath) -> str | None:
        name = self.string(value, path)
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(path, f"unknown time zone {name!r}; use an IANA name such as "
                               f"'Europe/Madrid' or 'America/Chicago'")
            return None
        return name

    def desk(self, value: Any) -> _Desk | None:
        path: KeyPath = ("desk",)
        table = self.table(value, path, allowed=(
            "pause_statuses", "default_plan", "reopen_days", "auto_close_days"),
            required=("pause_statuses",))
        if table is None:
            return None
        default_plan = table.get("default_plan")
        if default_plan is not None and not isinstance(default_plan, str):
            self.problem((*path, "default_plan"),
                         f"expected a plan code, not {_kind(default_plan)}")
            default_plan = None
        return _Desk(
            pause_statuses=self.statuses(table.get("pause_statuses", []),
                                         (*path, "pause_statuses")),
            default_plan=default_plan,
            reopen_days=self.days(table.get("reopen_days", DEFAULT_REOPEN_DAYS),
                                  (*path, "reopen_days"), unlimited="always"),
            auto_close_days=self.days(table.get("auto_close_days", DEFAULT_AUTO_CLOSE_DAYS),
                                      (*path, "auto_close_days"), unlimited="never"))

    def days(self, value: Any, path: KeyPath, *, unlimited: str) -> int | None:
        if value == unlimited:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(path, f"expected a number of days (0 or more) or {unlimited!r}, "
                               f"not {value!r}")
            return None
        return value

    def statuses(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(path, f"expected a list of statuses, not {_kind(value)}")
            return ()
        found: list[str] = []
        for index, status in enumerate(value):
            item = (*path, index)
            if status not in DESK_STATUSES:
                self.problem(item, _unknown("status", status, DESK_STATUSES))
            elif status not in PAUSABLE_STATUSES:
                self.problem(item, f"{status!r} cannot stop the clock; only "
                                   f"{' and '.join(PAUSABLE_STATUSES)} can")
            elif status in found:
                self.problem(item, f"{status!r} is listed twice")
            else:
                found.append(status)
        return tuple(found)

    def calendars(self, value: Any, provider: Provider | None) -> dict[str, dict[str, Any]]:
        path: KeyPath = ("calendars",)
        if not isinstance(value, dict) or not value:
            self.problem(path, "define at least one calendar: [calendars.<code>]")
            return {}
        found: dict[str, dict[str, Any]] = {}
        for code, spec in value.items():
            spec = self.calendar(code, spec, (*path, code), provider)
            if spec is None:
                self.broken_calendars.add(code)
            else:
                found[code] = spec
        return found

    def calendar(self, code: str, value: Any, path: KeyPath,
                 provider: Provider | None) -> dict[str, Any] | None:
        if self.code(code, path, "calendar") is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, f"expected a table, not {_kind(value)}")
            return None
        spec = copy.deepcopy(value)
        if "timezone" in spec:
            if self.timezone(spec["timezone"], (*path, "timezone")) is None:
                return None
        elif provider:
            # A calendar keeps the provider's time zone unless it says otherwise.
            spec["timezone"] = provider.timezone
        else:
            return None
        try:
            Calendar.from_dict(copy.deepcopy(spec))
        except (ValueError, TypeError, KeyError) as exc:
            where, message = _engine_where(str(exc))
            self.problem(path + where, f"the calendar is not valid: {message}")
            return None
        return spec

    def plans(self, value: Any, calendars: Mapping[str, dict[str, Any]],
              pause: tuple[str, ...]) -> dict[str, Plan]:
        path: KeyPath = ("plans",)
        if not isinstance(value, dict) or not value:
            self.problem(path, "define at least one plan: [plans.<code>]")
            return {}
        found: dict[str, Plan] = {}
        for code, item in value.items():
            plan_path = (*path, code)
            if self.code(code, plan_path, "plan") is None:
                continue
            before = len(self.problems)
            plan = self.plan(code, item, plan_path, calendars)
            if plan is None or len(self.problems) > before:
                continue
            engine_input = {
                "calendar": copy.deepcopy(calendars[plan.calendar]),
                "targets": {name: dict(by) for name, by in plan.targets.items()},
                "pause_statuses": list(plan.pause_statuses if plan.pause_statuses is not None
                                       else pause),
            }
            try:
                Policy.from_dict(engine_input)
            except (ValueError, TypeError, KeyError) as exc:
                where, message = _engine_where(str(exc))
                where = where if where[:1] == ("targets",) else ()
                self.problem(plan_path + where, f"the SLA engine refuses this plan: {message}")
                continue
            found[code] = plan
        return found

    def plan(self, code: str, value: Any, path: KeyPath,
             calendars: Mapping[str, dict[str, Any]]) -> Plan | None:
        table = self.table(value, path, allowed=(
            "name", "description", "calendar", "targets", "pause_statuses"),
            required=("name", "calendar"))
        if table is None:
            return None
        name = self.text(table["name"], (*path, "name"), every_language=True) \
            if "name" in table else None
        description = self.text(table.get("description", {}), (*path, "description"),
                                every_language=False) or {}
        calendar = table.get("calendar")
        if "calendar" in table and not isinstance(calendar, str):
            self.problem((*path, "calendar"), f"expected a calendar code, not {_kind(calendar)}")
            calendar = None
        elif "calendar" in table and calendar not in calendars:
            # A calendar that failed its own checks is already reported.
            if calendar not in self.broken_calendars:
                self.problem((*path, "calendar"), _unknown("calendar", calendar, calendars))
            calendar = None
        targets = self.targets(table.get("targets", {}), (*path, "targets"))
        pause = (self.statuses(table["pause_statuses"], (*path, "pause_statuses"))
                 if "pause_statuses" in table else None)
        if name is None or calendar is None or targets is None:
            return None
        return Plan(code=code, name=name, calendar=calendar, targets=targets,
                    description=description, pause_statuses=pause)

    def targets(self, value: Any, path: KeyPath) -> dict[str, dict[str, Target]] | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected a table of targets, not {_kind(value)}")
            return None
        found: dict[str, dict[str, Target]] = {}
        for name, by_priority in value.items():
            name_path = (*path, name)
            if name not in TARGET_NAMES:
                self.problem(name_path, _unknown("target", name, TARGET_NAMES))
                continue
            if not isinstance(by_priority, dict):
                self.problem(name_path, "expected a table of priority = duration, e.g. "
                                        '{ critical = "1h", high = "4h" }')
                continue
            found[name] = {}
            for priority, written in by_priority.items():
                item = (*name_path, priority)
                if priority not in self.priority_codes:
                    self.problem(item, _unknown("priority", priority, self.priority_codes))
                    continue
                try:
                    found[name][priority] = parse_duration(written)
                except ValueError as exc:
                    self.problem(item, str(exc))
        return found

    def matrix(self, value: Any) -> ImpactMatrix | None:
        path: KeyPath = ("matrix",)
        table = self.table(value, path, allowed=("impacts", "urgencies", "priority"),
                           required=("impacts", "priority"))
        if table is None or "impacts" not in table:
            return None
        impacts = self.choices(table["impacts"], (*path, "impacts"), "impact")
        urgencies = self.choices(table.get("urgencies", []), (*path, "urgencies"), "urgency")
        rows = table.get("priority", {})
        rows_path = (*path, "priority")
        if not isinstance(rows, dict):
            self.problem(rows_path, f"expected a table of impact = priority, not {_kind(rows)}")
            return None
        impact_codes = self.declared["impact"]
        urgency_codes = self.declared["urgency"]
        cells: dict[tuple[str, str | None], str] = {}
        for impact, row in rows.items():
            row_path = (*rows_path, impact)
            if impact not in impact_codes:
                self.problem(row_path, _unknown("impact", impact, impact_codes))
                continue
            if not urgency_codes:
                if self.priority_ref(row, row_path):
                    cells[(impact, None)] = row
                continue
            if not isinstance(row, dict):
                self.problem(row_path, "expected a table of urgency = priority, e.g. "
                                       f"{{ {urgency_codes[0]} = \"critical\" }}")
                continue
            for urgency, priority in row.items():
                if urgency not in urgency_codes:
                    self.problem((*row_path, urgency), _unknown("urgency", urgency,
                                                                 urgency_codes))
                elif self.priority_ref(priority, (*row_path, urgency)):
                    cells[(impact, urgency)] = priority
            for urgency in urgency_codes:
                if urgency not in row:
                    self.problem(row_path, f"no priority for urgency {urgency!r}")
        for impact in impact_codes:
            if impact not in rows:
                self.problem(rows_path, f"no priority for impact {impact!r}")
        return ImpactMatrix(impacts=impacts, urgencies=urgencies, cells=cells)

    def priority_ref(self, value: Any, path: KeyPath) -> bool:
        if value not in self.priority_codes:
            self.problem(path, _unknown("priority", value, self.priority_codes))
            return False
        return True

    def categories(self, value: Any, path: KeyPath, seen: set[str]) -> tuple[Category, ...]:
        found: list[Category] = []
        for item_path, item in self.tables(value, path):
            table = self.table(item, item_path, allowed=(
                "code", "name", "description", "guidance", "children"),
                required=("code", "name"))
            if table is None:
                continue
            code = self.code(table["code"], (*item_path, "code"), "category") \
                if "code" in table else None
            if code and code in seen:
                self.problem((*item_path, "code"), f"duplicate category {code!r}: category "
                                                    f"codes are unique across the whole tree")
                code = None
            elif code:
                seen.add(code)
            name = self.text(table["name"], (*item_path, "name"), every_language=True) \
                if "name" in table else None
            description = self.text(table.get("description", {}), (*item_path, "description"),
                                    every_language=False) or {}
            guidance: dict[str, Text] = {}
            raw_guidance = table.get("guidance", {})
            if not isinstance(raw_guidance, dict):
                self.problem((*item_path, "guidance"), "expected a table of priority = text")
                raw_guidance = {}
            for priority, words in raw_guidance.items():
                if self.priority_ref(priority, (*item_path, "guidance", priority)):
                    text = self.text(words, (*item_path, "guidance", priority),
                                     every_language=False)
                    if text:
                        guidance[priority] = text
            children = self.categories(table.get("children", []), (*item_path, "children"),
                                       seen)
            if code and name:
                found.append(Category(code, name, description, guidance, children))
        return tuple(found)

    def intake(self, value: Any, matrix: ImpactMatrix | None) -> tuple[IntakeQuestion, ...]:
        found: list[IntakeQuestion] = []
        seen: set[str] = set()
        for item_path, item in self.tables(value, ("intake",)):
            table = self.table(item, item_path, allowed=("code", "text", "required", "sets"),
                               required=("code", "text"))
            if table is None:
                continue
            code = self.code(table["code"], (*item_path, "code"), "choice") \
                if "code" in table else None
            if code and code in seen:
                self.problem((*item_path, "code"), f"duplicate question {code!r}")
                code = None
            text = self.text(table["text"], (*item_path, "text"), every_language=False) \
                if "text" in table else None
            required = table.get("required", True)
            if not isinstance(required, bool):
                self.problem((*item_path, "required"), "expected true or false")
            sets = table.get("sets")
            if sets is not None:
                if sets not in INTAKE_SETS:
                    self.problem((*item_path, "sets"), _unknown("matrix axis", sets,
                                                                 INTAKE_SETS))
                elif matrix is None or (sets == "urgency" and not matrix.urgencies):
                    self.problem((*item_path, "sets"), f"the answer sets the {sets}, but "
                                                        f"[matrix] defines no {sets}")
            if code and text:
                seen.add(code)
                found.append(IntakeQuestion(code, text, required is not False, sets))
        return tuple(found)

    def escalations(self, value: Any) -> tuple[EscalationRule, ...]:
        # Kept as data for tierdesk.automation, which gives `when` and `then` meaning.
        found: list[EscalationRule] = []
        for item_path, item in self.tables(value, ("escalations",)):
            if not isinstance(item, dict):
                self.problem(item_path, f"expected a table, not {_kind(item)}")
                continue
            missing = [key for key in ("name", "when", "then") if key not in item]
            if missing:
                self.problem(item_path, f"an escalation rule needs {', '.join(map(repr, missing))}")
                continue
            name = self.string(item["name"], (*item_path, "name"))
            if name:
                found.append(EscalationRule(name, item["when"], item["then"],
                                            self.lines.line(item_path), dict(item)))
        return tuple(found)


    def commitment(self, value: Any) -> CommitmentTerms | None:
        path: KeyPath = ("commitment",)
        table = self.table(value, path, allowed=("due_within", "remind_at", "escalate_to",
                                                 "enabled"))
        if table is None:
            return None
        due, share, roles = 240, 0.75, ("team_lead",)
        if "due_within" in table:
            try:
                parsed = parse_duration(table["due_within"])
            except ValueError as exc:
                self.problem((*path, "due_within"), str(exc))
            else:
                if isinstance(parsed, int):
                    due = parsed
                else:
                    self.problem((*path, "due_within"), "write business minutes or hours "
                                                        "('4h', '90m'), not days")
        if "remind_at" in table:
            share = table["remind_at"]
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
                self.problem((*path, "remind_at"), f"a share between 0 and 1 (0.75), not {share!r}")
        if "escalate_to" in table:
            written = table["escalate_to"]
            written = [written] if isinstance(written, str) else written
            if not isinstance(written, list) or not written or not all(
                    isinstance(r, str) and r for r in written):
                self.problem((*path, "escalate_to"), 'name roles, e.g. ["team_lead"]')
            else:
                roles = tuple(written)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem((*path, "enabled"), f"write true or false, not {_kind(enabled)}")
        return CommitmentTerms(due, float(share), roles, enabled is not False,
                               self.lines.line(path))


def _engine_where(message: str) -> tuple[KeyPath, str]:
    """Split the engine's "hours.mon[1]: ..." into a key path and the rest of the message."""
    match = re.match(r"([A-Za-z_][\w-]*(?:\[\d+\]|\.[\w-]+)*): (.+)", message, re.DOTALL)
    if not match:
        return (), message
    path: list[str | int] = []
    for name, index in re.findall(r"([\w-]+)|\[(\d+)\]", match[1]):
        path.append(int(index) if index else name)
    if path[:1] in (["calendar"], ["policy"]):  # the engine's name for the whole spec
        path = path[1:]
    if unknown := re.match(r"unknown (?:key|weekday) '([^']+)'", match[2]):
        path.append(unknown[1])  # point at the offending key's own line
    return tuple(path), match[2]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a table", list: "an array", str: f"the string {value!r}",
            int: f"the number {value!r}", float: f"the number {value!r}"}.get(
        type(value), type(value).__name__)


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"  # counted from 1, as a person counts [[tables]]
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            out += f".{key}" if out else key
    return out


# --------------------------------------------------------------------------- key lines


class _KeyLines:
    """Where each key path of a TOML text is written: a path -> line map.

    tomllib reports lines for syntax errors only, so this small scanner walks
    the (already valid) text once, tracking [table] and [[array]] headers,
    `key = value` lines with dotted and quoted keys, inline tables and arrays.
    Paths use 0-based indexes for array items, as the checker does; a path not
    found falls back to its nearest parent, i.e. the table header's line.
    """

    def __init__(self, text: str) -> None:
        self._s = text
        self._i = 0
        self._line = 1
        self._at: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}  # array-of-tables path -> last index
        self._last_loop_at = -1
        # Best effort: if the scanner trips, what it scanned so far still gives lines.
        with contextlib.suppress(IndexError, ValueError):
            self._document()

    def line(self, path: KeyPath) -> int | None:
        while path:
            if path in self._at:
                return self._at[path]
            path = path[:-1]
        return None

    # -- scanning

    def _peek(self, ahead: int = 0) -> str:
        index = self._i + ahead
        return self._s[index] if index < len(self._s) else ""

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self._peek() == "\n":
                self._line += 1
            self._i += 1

    def _skip_blank(self, *, newlines: bool) -> None:
        """Skip spaces and comments, and newlines too when `newlines`."""
        while True:
            char = self._peek()
            if char in (" ", "\t", "\r") or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                while self._peek() not in ("", "\n"):
                    self._advance()
            else:
                return

    def _require_progress(self) -> None:
        """Stop, rather than loop for ever, on text this scanner does not understand."""
        if self._i == self._last_loop_at:
            raise ValueError(f"stuck at offset {self._i}")
        self._last_loop_at = self._i

    def _mark(self, path: KeyPath, *, exact: bool) -> None:
        for end in range(1, len(path) + 1):
            prefix = path[:end]
            if exact and end == len(path):
                self._at[prefix] = self._line
            else:
                self._at.setdefault(prefix, self._line)

    def _document(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            self._require_progress()
            if not self._peek():
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)

    def _header(self) -> KeyPath:
        double = self._peek(1) == "["
        self._advance(2 if double else 1)
        self._skip_blank(newlines=False)
        keys = self._key()
        self._advance(2 if double else 1)
        path: KeyPath = ()
        for index, key in enumerate(keys):
            path += (key,)
            last = index == len(keys) - 1
            if last and double:
                self._at.setdefault(path, self._line)
                self._arrays[path] = self._arrays.get(path, -1) + 1
                path += (self._arrays[path],)
            elif path in self._arrays:
                path += (self._arrays[path],)
        self._mark(path, exact=True)
        return path

    def _key_value(self, table: KeyPath) -> None:
        path = table + tuple(self._key())
        self._mark(path, exact=True)
        self._skip_blank(newlines=False)
        self._advance()  # "="
        self._skip_blank(newlines=False)
        self._value(path)

    def _key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            char = self._peek()
            if char in ('"', "'"):
                keys.append(self._string())
            else:
                start = self._i
                while re.match(r"[A-Za-z0-9_-]", self._peek() or " "):
                    self._advance()
                if self._i == start:
                    raise ValueError("no key")
                keys.append(self._s[start:self._i])
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()

    def _string(self) -> str:
        quote = self._peek()
        if self._s.startswith(quote * 3, self._i):
            self._advance(3)
            while not self._s.startswith(quote * 3, self._i):
                if not self._peek():
                    raise ValueError("unterminated string")
                self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
            self._advance(3)
            while self._peek() == quote:  # up to two quotes may end the content
                self._advance()
            return ""
        self._advance()
        start = self._i
        while self._peek() != quote:
            if not self._peek() or self._peek() == "\n":
                raise ValueError("unterminated string")
            self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
        raw = self._s[start:self._i]
        self._advance()
        if quote == '"' and "\\" in raw:
            try:
                return json.loads(f'"{raw}"')
            except ValueError:
                return raw
        return raw

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in ('"', "'"):
            self._string()
        elif char == "{":
            self._advance()
            while True:
                self._skip_blank(newlines=True)
                self._require_progress()
                if self._peek() == "}":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._key_value(path)
        elif char == "[":
            self._advance()
            index = 0
            while True:
                self._skip_blank(newlines=True)
                self._require_progress()
                if self._peek() == "]":
                    self._advance()
                    return
                if self._peek() == ",":
                    self._advance()
                    continue
                self._mark((*path, index), exact=True)
                self._value((*path, index))
                index += 1
        else:
            while self._peek() not in ("", ",", "]", "}", "\n", "#"):
                self._advance()
