"""`tierdesk api token create EMAIL | token list [EMAIL] | token revoke PREFIX | replay DELIVERY`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tierdesk.accounts.models import User
from tierdesk.api import tokens, webhooks
from tierdesk.api.models import ApiToken, Scope, WebhookDelivery
from tierdesk.tickets.errors import ActionError


class Command(BaseCommand):
    help = "Make, list and revoke API tokens; replay a webhook delivery."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        token = sub.add_parser("token", help="API tokens.")
        verbs = token.add_subparsers(dest="token_verb", required=True)
        create = verbs.add_parser("create", help="Make a token for a user; printed once.")
        create.add_argument("email")
        create.add_argument("--name", default="API token")
        create.add_argument("--scope", action="append", choices=Scope.values, dest="scopes",
                            help="read, write, webhooks (repeat it); default: read and write")
        create.add_argument("--rate", type=int, default=None,
                            help="requests per minute (default: the server's)")
        listing = verbs.add_parser("list", help="Tokens, of everyone or of one user.")
        listing.add_argument("email", nargs="?")
        revoke = verbs.add_parser("revoke", help="Revoke a token by its prefix.")
        revoke.add_argument("prefix")
        replay = sub.add_parser("replay", help="Send a webhook delivery again.")
        replay.add_argument("delivery", help="the delivery's id (a UUID)")

    def handle(self, *args, verb: str, **options):
        if verb == "replay":
            return self.do_replay(options)
        return getattr(self, f"do_token_{options['token_verb']}")(options)

    def _user(self, email: str) -> User:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no user {email}")
        return user

    def do_token_create(self, options) -> None:
        try:
            issued = tokens.issue_token(user=self._user(options["email"]), name=options["name"],
                                        scopes=options["scopes"] or [Scope.READ, Scope.WRITE],
                                        rate_per_minute=options["rate"])
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        token = issued.token
        self.stderr.write(f"token {token.prefix} for {token.user.email} "
                          f"({', '.join(token.scopes)}); shown once, keep it:")
        self.stdout.write(issued.secret)

    def do_token_list(self, options) -> None:
        qs = ApiToken.objects.select_related("user").order_by("user__email", "-created_at")
        if options["email"]:
            qs = qs.filter(user=self._user(options["email"]))
        for t in qs:
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            self.stdout.write(f"{t.prefix}  {t.user.email}  {t.name!r}  {','.join(t.scopes)}  "
                              f"{state}  last used {used}")

    def do_token_revoke(self, options) -> None:
        token = ApiToken.objects.filter(prefix=options["prefix"]).first()
        if token is None:
            raise CommandError(f"no token {options['prefix']}")
        tokens.revoke_token(token)
        self.stdout.write(self.style.SUCCESS(f"revoked {token.prefix} ({token.name})"))

    def do_replay(self, options) -> None:
        delivery = WebhookDelivery.objects.select_related("subscription").filter(
            uuid=options["delivery"]).first() if _is_uuid(options["delivery"]) else None
        if delivery is None:
            raise CommandError(f"no delivery {options['delivery']}")
        try:
            again = webhooks.replay(actor=None, delivery=delivery)
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"queued again as {again.uuid}"))


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
