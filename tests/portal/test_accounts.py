"""A person's account: the invitation of the first case, password reset, the profile."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tierdesk.accounts.models import Contact, Provider, User
from tierdesk.notifications.models import OutboxMessage, Preference
from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def link_in(message: OutboxMessage) -> str:
    found = re.search(r"https?://[^/\s]+(/\S+)", message.text)
    assert found, message.text
    return found.group(1)


def new_caller_by_phone(people, email="dora@acme.test"):
    """Tess logs a call from someone who is not a contact yet."""
    tess = Client()
    tess.force_login(people.tess.user)
    response = tess.post(reverse("console:phone"), {
        "requester_email": email, "requester_name": "Dora Newcomer",
        "subject": "Phone: cannot print", "description": "Called at 10:02, printer offline.",
        "callback_phone": "+34 600 111 222"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Ticket.objects.get(subject="Phone: cannot print")


def test_first_case_by_phone_invites_the_new_contact(people):
    ticket = new_caller_by_phone(people)
    dora = Contact.objects.get(user__email="dora@acme.test")
    assert ticket.requester == dora and ticket.channel == "phone"
    assert dora.organisation == people.acme, "found by the email's domain"
    assert not dora.user.has_usable_password()
    invitation = OutboxMessage.objects.get(key=f"invitation:{dora.user.pk}")
    assert invitation.to == ["dora@acme.test"] and ticket.reference in invitation.subject

    # The link sets a password, signs in, and then shows her the ticket.
    browser = Client()
    form_page = browser.get(link_in(invitation), follow=True)
    assert "Create your account" in form_page.content.decode()
    response = browser.post(form_page.redirect_chain[-1][0], {
        "new_password1": "a-Long-pass-2026", "new_password2": "a-Long-pass-2026"}, follow=True)
    assert ticket.reference in response.content.decode()
    assert "Welcome! Your account is ready." in response.content.decode()
    dora.user.refresh_from_db()
    assert dora.user.check_password("a-Long-pass-2026")

    # Used once: the same link no longer works.
    again = Client().get(link_in(invitation), follow=True).content.decode()
    assert "expired or was already used" in again


def test_a_second_case_does_not_invite_twice(people):
    new_caller_by_phone(people)
    dora = Contact.objects.get(user__email="dora@acme.test")
    actions.create_ticket(actor=people.tess.user, new=actions.NewTicket(
        requester=dora, subject="Again", description="x", channel="phone"))
    assert OutboxMessage.objects.filter(key__startswith=f"invitation:{dora.user.pk}").count() == 1


def test_contacts_with_a_password_get_no_invitation(open_ticket):
    open_ticket()
    assert not OutboxMessage.objects.filter(key__startswith="invitation:").exists()


def test_an_expired_invitation_is_refused(people, settings):
    new_caller_by_phone(people)
    dora = User.objects.get(email="dora@acme.test")
    invitation = OutboxMessage.objects.get(key=f"invitation:{dora.pk}")
    settings.INVITATION_TIMEOUT = -1
    page = Client().get(link_in(invitation), follow=True).content.decode()
    assert "expired or was already used" in page


def test_the_invitation_speaks_the_contacts_language(people):
    Provider.objects.update(languages=["es", "en"])
    new_caller_by_phone(people)
    dora = User.objects.get(email="dora@acme.test")
    invitation = OutboxMessage.objects.get(key=f"invitation:{dora.pk}")
    assert "Hola" in invitation.text


def test_an_agent_can_send_the_invitation_again(people):
    ticket = new_caller_by_phone(people)
    tess = Client()
    tess.force_login(people.tess.user)
    page = tess.get(reverse("console:ticket", args=[ticket.reference])).content.decode()
    assert "Send the invitation again" in page
    response = tess.post(reverse("console:act", args=[ticket.reference, "invite"]), follow=True)
    assert "Invitation sent to dora@acme.test" in response.content.decode()
    assert OutboxMessage.objects.filter(key__startswith="invitation:").count() == 2


def test_an_unknown_caller_needs_a_name_and_an_organisation(people):
    tess = Client()
    tess.force_login(people.tess.user)
    response = tess.post(reverse("console:phone"), {
        "requester_email": "zed@nowhere.test", "requester_name": "Zed",
        "subject": "s", "description": "d"})
    assert response.status_code == 400
    assert "choose the caller" in response.content.decode()
    assert not User.objects.filter(email="zed@nowhere.test").exists()


def test_password_reset_through_the_outbox(people):
    anonymous = Client()
    login_page = anonymous.get(reverse("login")).content.decode()
    assert reverse("accounts:password_reset") in login_page
    response = anonymous.post(reverse("accounts:password_reset"), {"email": "alice@acme.test"},
                              follow=True)
    assert "Check your email" in response.content.decode()
    message = OutboxMessage.objects.get(key__startswith=f"password-reset:{people.alice.user.pk}:")
    form_page = anonymous.get(link_in(message), follow=True)
    response = anonymous.post(form_page.redirect_chain[-1][0], {
        "new_password1": "another-Pass-77", "new_password2": "another-Pass-77"}, follow=True)
    assert "Password saved" in response.content.decode()
    assert Client().login(email="alice@acme.test", password="another-Pass-77")


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(people):
    response = Client().post(reverse("accounts:password_reset"), {"email": "nobody@x.test"},
                             follow=True)
    assert "Check your email" in response.content.decode()
    assert not OutboxMessage.objects.exists()


def test_profile_sets_language_zone_and_notifications(people):
    alice = Client()
    alice.force_login(people.alice.user)
    page = alice.get(reverse("accounts:profile")).content.decode()
    assert 'name="language"' in page and 'name="time_zone"' in page and 'name="n-email"' in page
    assert 'name="n-digest"' not in page, "digests are for agents"
    response = alice.post(reverse("accounts:profile"), {
        "full_name": "Alice A.", "language": "es", "time_zone": "America/Mexico_City"},
        follow=True)
    user = User.objects.get(pk=people.alice.user.pk)
    assert (user.full_name, user.language, user.time_zone) == ("Alice A.", "es",
                                                               "America/Mexico_City")
    assert Preference.objects.get(user=user).email is False  # unticked box
    html = response.content.decode()
    assert '<html lang="es">' in html and "America/Mexico_City" in html


def test_agents_choose_a_digest(people):
    tess = Client()
    tess.force_login(people.tess.user)
    assert 'name="n-digest"' in tess.get(reverse("accounts:profile")).content.decode()
    tess.post(reverse("accounts:profile"), {"full_name": "Tess", "language": "",
                                            "time_zone": "", "n-email": "on", "n-in_app": "on",
                                            "n-digest": "daily"})
    assert Preference.objects.get(user=people.tess.user).digest == "daily"


def test_provider_admin_offers_the_intake_questions_as_checkboxes(people):
    people.max.user.is_superuser = True
    people.max.user.save()
    admin = Client()
    admin.force_login(people.max.user)
    provider = Provider.current()
    page = admin.get(reverse("admin:accounts_provider_change", args=[provider.pk])).content.decode()
    assert 'type="checkbox" name="mandatory_intake" value="users_affected"' in page


def test_a_batch_of_first_cases_invites_each_newcomer_once(people, settings, monkeypatch):
    """Heard in one batch of the hooks' work: each contact without a password is invited
    once, for their first ticket, as one ticket at a time would; contacts with one are not."""
    from tierdesk.tickets import hooks

    settings.TICKET_HOOKS_INLINE = False
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    dora = Contact.objects.create(user=User.objects.create_user("dora@acme.test", None,
                                                                full_name="Dora"),
                                  organisation=people.acme)
    dan = Contact.objects.create(user=User.objects.create_user("dan@acme.test", None,
                                                               full_name="Dan"),
                                 organisation=people.acme)
    made = [actions.create_ticket(actor=people.tess.user, new=actions.NewTicket(
        requester=who, subject=f"Case {i}", description="x", channel="phone"))
        for i, who in enumerate([dora, people.alice, dora, dan, dan])]
    assert hooks.run_batch() == 5
    invited = {m.key: m for m in OutboxMessage.objects.filter(key__startswith="invitation:")}
    assert set(invited) == {f"invitation:{dora.user.pk}", f"invitation:{dan.user.pk}"}
    assert invited[f"invitation:{dora.user.pk}"].ticket_id == made[0].pk
    assert invited[f"invitation:{dan.user.pk}"].ticket_id == made[3].pk
    assert made[0].reference in invited[f"invitation:{dora.user.pk}"].subject
    # Heard again (a later batch): nobody is invited twice.
    actions.create_ticket(actor=people.tess.user, new=actions.NewTicket(
        requester=dora, subject="Case 5", description="x", channel="phone"))
    assert hooks.run_batch() == 1
    assert OutboxMessage.objects.filter(key__startswith="invitation:").count() == 2
