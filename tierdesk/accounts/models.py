"""Organisations and people: the provider, its customers, their contacts, its staff."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who signs in: a customer's contact or a member of the provider's staff.

    Which of the two is told by the profile attached (`contact` or `agent`).
    """

    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True,
                                help_text=_("Empty: follow the browser."))
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("IANA name, e.g. Europe/Madrid. Empty: the provider's."))
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("may use the admin"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]

    @property
    def agent_or_none(self) -> Agent | None:
        return getattr(self, "agent", None)

    @property
    def contact_or_none(self) -> Contact | None:
        return getattr(self, "contact", None)


class Provider(models.Model):
    """The support provider running this desk (one per installation)."""

    class UnknownSender(models.TextChoices):
        HOLD = "hold", _("Create a contact held for review")
        REFUSE = "refuse", _("Answer that the address is not registered")

    name = models.CharField(_("name"), max_length=200)
    support_address = models.EmailField(_("support address"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    languages = models.JSONField(_("languages"), default=list,
                                 help_text=_("Language codes offered, first is the default."))
    reopen_window_days = models.PositiveIntegerField(
        _("reopen window (days)"), default=14, null=True, blank=True,
        help_text=_("How long after resolution a customer may reopen a ticket. Empty: always."))
    autoclose_days = models.PositiveIntegerField(
        _("close resolved tickets after (days)"), default=7, null=True, blank=True,
        help_text=_("0: as soon as they are resolved. Empty: never."))
    unknown_sender = models.CharField(max_length=10, choices=UnknownSender.choices,
                                      default=UnknownSender.HOLD)
    mandatory_intake = models.JSONField(
        _("mandatory intake questions"), default=list, blank=True,
        help_text=_("Questions a customer must answer to open a ticket in the portal, "
                    "besides the subject and the description (seeds 003 and 004)."))

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("provider")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        known = {name for name, _label in INTAKE_QUESTIONS}
        if not isinstance(self.mandatory_intake, list) or not set(self.mandatory_intake) <= known:
            raise ValidationError({"mandatory_intake": _("Choose among: %(names)s.") % {
                "names": ", ".join(sorted(known))}})

    @classmethod
    def current(cls) -> Provider:
        provider = cls.objects.order_by("pk").first()
        if provider is None:
            provider = cls.objects.create(name="Tierdesk", support_address="support@tierdesk.localhost",
                                          languages=["en", "es"])
        return provider


# The questions the portal can ask when a ticket is opened, by form field name; the
# provider picks which are mandatory (Provider.mandatory_intake).
INTAKE_QUESTIONS = [
    ("category", _("Category")),
    ("impact", _("Who is affected?")),
    ("urgency", _("How urgent is it?")),
    ("started_at", _("When did it start?")),
    ("users_affected", _("How many people are affected?")),
    ("machines_affected", _("How many machines are affected?")),
    ("location", _("Are you remote or on site?")),
    ("troubleshooting_done", _("What have you already tried?")),
    ("business_impact", _("How does it affect your work or your business?")),
    ("affected_accounts", _("Affected accounts or machine names")),
    ("environment", _("Environment (operating system, network...)")),
    ("product_build", _("Product build installed")),
    ("callback_phone", _("Best number to call you back")),
    ("attachments", _("Screenshots and files")),
]


class Organisation(models.Model):
    """A customer company, on a support plan."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    plan = models.ForeignKey("sla.Plan", on_delete=models.PROTECT, related_name="organisations",
                             verbose_name=_("support plan"))
    contract_reference = models.CharField(_("contract reference"), max_length=100, blank=True)
    contract_targets = models.JSONField(
        _("contract targets"), default=dict, blank=True,
        help_text=_("Tighter targets agreed in the contract: {target: {priority: minutes}}."))
    members_see_all = models.BooleanField(
        _("members see all the organisation's tickets"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A contract may only tighten the published plan (seed 004)."""
        from django.core.exceptions import ValidationError

        from tierdesk.sla.policyfile import PolicyFileError, tighten

        if self.contract_targets and self.plan_id:
            try:
                tighten(self.plan.targets, self.contract_targets)
            except (PolicyFileError, ValueError) as exc:
                raise ValidationError({"contract_targets": str(exc)}) from exc


class OrganisationDomain(models.Model):
    """An email domain whose senders belong to an organisation."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(_("domain"), max_length=253, unique=True)

    class Meta:
        verbose_name = _("email domain")
        verbose_name_plural = _("email domains")

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class Contact(models.Model):
    """A customer's person, in exactly one organisation."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Organisation admin")
        MEMBER = "member", _("Member")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="contact")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="contacts")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    held_for_review = models.BooleanField(
        _("held for review"), default=False,
        help_text=_("Created from an unknown sender; an agent must confirm it."))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return f"{self.user} ({self.organisation})"

    @property
    def is_org_admin(self) -> bool:
        return self.role == self.Role.ADMIN


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    lead = models.ForeignKey("Agent", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="led_teams", verbose_name=_("team lead"))

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """A member of the provider's staff."""

    class Role(models.TextChoices):
        AGENT = "agent", _("Agent")
        TEAM_LEAD = "team_lead", _("Team lead")
        SUPPORT_MANAGER = "support_manager", _("Support manager")
        ADMINISTRATOR = "administrator", _("Administrator")

    class Tier(models.IntegerChoices):
        ONE = 1, _("Tier 1")
        TWO = 2, _("Tier 2")
        THREE = 3, _("Tier 3")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="agent")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    tier = models.PositiveSmallIntegerField(_("tier"), choices=Tier.choices, default=Tier.ONE)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents", verbose_name=_("teams"))
    skills = models.ManyToManyField("tickets.Category", blank=True, related_name="skilled_agents",
                                    verbose_name=_("skills (categories handled)"))
    calendar = models.ForeignKey("sla.BusinessCalendar", on_delete=models.SET_NULL, null=True,
                                 blank=True, verbose_name=_("working calendar"))
    is_available = models.BooleanField(_("takes new work"), default=True)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return str(self.user)

    @property
    def is_lead_or_above(self) -> bool:
        return self.role in {self.Role.TEAM_LEAD, self.Role.SUPPORT_MANAGER, self.Role.ADMINISTRATOR}
