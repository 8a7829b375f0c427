"""Parsing real messages: every fixture, what a person would read in it, and no crash ever."""

from __future__ import annotations

import random

import pytest

from mail.helpers import FIXTURES, eml
from tierdesk.mail.parse import Automation, decode_bytes, decode_words, dedupe_key, html_to_text, parse

ALL = sorted(p.name for p in FIXTURES.glob("*.eml"))

# fixture -> (sender, subject, automation, language, attachments, words in the text)
EXPECTED = {
    "gmail_new_en.eml": ("alice@acme.test", "Printer on the 3rd floor jams on every job", "", "en",
                         [], ["HP printer on the 3rd floor", "restarted it twice"]),
    "gmail_new_es.eml": ("bob@acme.test", "Impresora atascada en la 3ª planta", "", "es", [],
                         ["Desde esta mañana", "¿Podéis echarle un vistazo?"]),
    "gmail_inline_image.eml": ("alice@acme.test", "Error dialog when opening the shared drive", "",
                               "en", ["screenshot.png"], ["[image: screenshot.png]"]),
    "gmail_attachment_pdf.eml": ("bob@acme.test", "Factura de marzo incorrecta", "", "es",
                                 ["factura_marzo_año.pdf"], ["cobra dos veces"]),
    "gmail_forward_inline.eml": ("bob@acme.test", "Fwd: Your Microsoft 365 subscription will expire",
                                 "", "en", [], ["real or phishing", "microsoft-billing.test/renew"]),
    "outlook_new_en.eml": ("alice@acme.test", "Outlook keeps asking for my password", "", "en", [],
                           ["I typed it – correctly –", "Office Manager • Acme"]),
    "outlook_forward_attachment.eml": ("alice@acme.test", "FW: Suspicious invoice", "", "en",
                                       ["Invoice 2026-0345 overdue.eml"],
                                       ["I think it is phishing", "Forwarded message",
                                        "Your invoice is overdue"]),
    "outlook_winmail_tnef.eml": ("alice@acme.test", "Scanner settings", "", "en", ["winmail.dat"],
                                 ["wrong folder"]),
    "outlook_reply_en_html_only.eml": ("bob@acme.test", "RE: [TD-100001] VPN drops every hour", "",
                                       "en", [], ["11:00 and 12:00 exactly"]),
    "apple_new_en.eml": ("alice@acme.test", "Wi-Fi in the meeting room", "", "en", [],
                         ["disconnects every few minutes when more than ten"]),
    "apple_attachment_no_name.eml": ("alice@acme.test", "Logs from the NAS", "", "en",
                                     ["report.pdf", "attachment-2.png"], ["front panel"]),
    "apple_signed_smime.eml": ("alice@acme.test", "Signed: firewall change request", "", "en",
                               ["smime.p7s"], ["open port 8443"]),
    "thunderbird_new_es_latin1.eml": ("bob@acme.test", "No funciona el escáner de recepción", "",
                                      "es", [], ["Buenos días", "«SMTP 535»",
                                                 "desde el lunes. Aparece"]),
    "thunderbird_pgp_signed.eml": ("alice@acme.test", "Please disable the account of a leaver", "",
                                   "en", ["OpenPGP_signature.asc"], ["last working day"]),
    "thunderbird_pgp_encrypted.eml": ("alice@acme.test", "New admin password", "", "", ["encrypted.asc"],
                                      []),
    "thunderbird_calendar_invite.eml": ("alice@acme.test", "Invitation: server move planning", "",
                                        "en", ["attachment-1.ics"], ["server move on Friday"]),
    "broken_mislabelled_utf8.eml": ("bob@acme.test", "Contraseña caducada", "", "es", [],
                                    ["Mi contraseña caducó", "¿Me ayudáis?"]),
    "broken_unknown_charset.eml": ("alice@acme.test", "Café machine network port", "", "en", [],
                                   ["The café machine", "kitchen – can you"]),
    "broken_8bit_headers.eml": ("bob@acme.test", "Pantalla azul en el portátil de recepción", "",
                                "es", [], ["pantalla azul"]),
    "broken_invalid_base64.eml": ("alice@acme.test", "Broken base64 subject", "", "en", [],
                                  ["The scanner is offline. Please help."]),
    "broken_missing_boundary.eml": ("alice@acme.test", "Mouse does not work", "", "", [],
                                    ["wireless mouse at desk 3"]),
    "broken_wrong_utf8_label.eml": ("alice@acme.test", "Migración del correo", "", "es", [],
                                    ["¿Cuándo se hará la migración"]),
    "encoded_words_split.eml": ("alice@acme.test", "Conmemoración de la migración ✔ ñoñ", "", "", [],
                                ["nombres partidos"]),
    "html_only_es.eml": ("bob@acme.test", "Solicitud: acceso a la carpeta de Contabilidad", "", "es",
                         [], ["- Preparar el cierre de marzo", "facturas & los recibos",
                              "<https://intranet.acme.test/contabilidad>"]),
    "monitoring_auto_generated.eml": ("alerts@acme.test", "[CRITICAL] backup-01: disk /var is 97% full",
                                      "automated", "en", [], ["Disk space is critically low"]),
    "list_newsletter.eml": ("news@acme.test", "Acme Weekly: the new canteen menu", "automated", "en",
                            [], ["paella"]),
    "precedence_junk_unknown.eml": ("deals@cheap-toner.test", "70% off toner this week only",
                                    "automated", "", [], ["toner"]),
    "outlook_auto_reply.eml": ("bob@acme.test", "Automatic reply: [TD-100001] VPN drops every hour",
                               "auto_reply", "en", [], ["out of the office"]),
    "outlook_auto_reply_es.eml": ("bob@acme.test",
                                  "Respuesta automática: [TD-100001] VPN drops every hour",
                                  "auto_reply", "es", [], ["fuera de la oficina"]),
    "outlook_read_receipt.eml": ("alice@acme.test", "Read: [TD-100001] VPN drops every hour",
                                 "auto_reply", "", [], ["was read"]),
    "bounce_postfix.eml": ("mailer-daemon@mail.acme.test", "Undelivered Mail Returned to Sender",
                           "bounce", "en", [], ["Recipient address rejected"]),
    "bounce_exchange_ndr.eml": ("postmaster@acme.test",
                                "Undeliverable: Re: [TD-100001] VPN drops every hour", "bounce", "",
                                [], ["couldn't be delivered"]),
    "bounce_gmail_dsn.eml": ("mailer-daemon@googlemail.com", "Delivery Status Notification (Failure)",
                             "bounce", "en", [], ["Address not found"]),
    "domain_new_contact.eml": ("dave.newhire@acme.test", "I cannot log in to the intranet", "", "en",
                               [], ["intranet"]),
    "unknown_sender_es.eml": ("dario@example.test", "Consulta sobre soporte", "", "es", [],
                              ["oficina pequeña"]),
}


def test_the_fixture_set_is_large_and_every_file_is_a_message():
    assert len(ALL) >= 40
    for name in ALL:
        mail = parse(eml(name))
        assert mail.subject or name == "broken_no_from.eml", name
        assert not mail.headers_only, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reads_as_a_person_would(name):
    sender, subject, automation, language, files, words = EXPECTED[name]
    mail = parse(eml(name))
    assert mail.sender is not None and mail.sender.email == sender
    assert mail.subject == subject
    assert mail.automation == (automation or Automation.HUMAN)
    if language:
        assert mail.language == language
    assert [a.filename for a in mail.attachments] == files
    for word in words:
        assert word in mail.text, f"{word!r} not in {mail.text!r}"
    assert "\ufffd" not in mail.text
    assert "\ufffd" not in mail.subject


def test_display_names_with_commas_and_accents_survive():
    mail = parse(eml("encoded_words_split.eml"))
    assert mail.sender.name == "Pérez, Juan"
    assert parse(eml("broken_8bit_headers.eml")).sender.name == "Bób Mártínez"
    assert parse(eml("gmail_new_es.eml")).sender.name == "Bob Martínez"


def test_threading_headers_and_bounce_details():
    mail = parse(eml("gmail_reply_en.eml"))
    assert mail.message_id == "CAJx8pQ3=gmail-reply-en-0003@mail.gmail.com"
    assert mail.in_reply_to == ["td.100001.5.1@helpful.test"]
    assert mail.thread_ids == ["td.100001.5.1@helpful.test", "td.100001.@helpful.test"]
    bounce = parse(eml("bounce_postfix.eml"))
    assert bounce.bounced_ids == ["td.100001.7.2@helpful.test"]
    assert bounce.bounced_recipients == ["bob@acme.test"]
    ndr = parse(eml("bounce_exchange_ndr.eml"))
    assert ndr.bounced_ids == ["td.100001.7.9@helpful.test"]
    assert ndr.bounced_recipients == ["old.user@acme.test"]


def test_inline_images_keep_their_content_id():
    (image,) = parse(eml("gmail_inline_image.eml")).attachments
    assert image.content_id == "ii_m7abc123"
    assert image.inline and image.content_type == "image/png"
    assert image.data.startswith(b"\x89PNG")


def test_html_is_sanitised_and_rendered_as_text():
    mail = parse(eml("html_only_es.eml"))
    assert "<script" not in mail.html and "onclick" not in mail.html and "onerror" not in mail.html
    assert "<b>lectura</b>" in mail.html
    assert "evil.test" not in mail.text and "color:red" not in mail.text
    outlook = parse(eml("outlook_reply_en_html_only.eml"))
    assert "alert(" not in outlook.html and "steal()" not in outlook.html


def test_encrypted_mail_is_kept_as_an_attachment():
    mail = parse(eml("thunderbird_pgp_encrypted.eml"))
    assert mail.encrypted
    assert mail.text == ""


def test_a_forward_as_attachment_keeps_the_original_message():
    mail = parse(eml("outlook_forward_attachment.eml"))
    (forwarded,) = mail.attachments
    assert forwarded.content_type == "message/rfc822"
    assert b"Message-ID: <phish-123@invoices-online.test>" in forwarded.data


def test_dedupe_key_uses_the_message_id_or_the_content_without_trace_headers():
    key, mid = dedupe_key(eml("gmail_new_en.eml"))
    assert mid == "CAJx8pQ1=gmail-new-en-0001@mail.gmail.com"
    assert dedupe_key(eml("gmail_new_en.eml").replace(b"Return-Path", b"X-Was-Return-Path"))[0] == key
    raw = eml("broken_no_message_id.eml")
    key2, mid2 = dedupe_key(raw)
    assert mid2 == ""
    relayed = b"Received: from relay.test by mx.helpful.test; Thu, 5 Mar 2026 11:41:00 +0100\n" + raw
    assert dedupe_key(relayed)[0] == key2
    assert dedupe_key(raw.replace(b"desk 14", b"desk 15"))[0] != key2


@pytest.mark.parametrize("data,charset,expected", [
    ("café".encode(), "iso-8859-1", "café"),            # UTF-8 labelled Latin-1
    ("café".encode("latin-1"), "utf-8", "café"),        # Latin-1 labelled UTF-8
    ("café".encode("latin-1"), "x-unknown", "café"),
    ("日本語".encode("shift_jis"), "shift_jis", "日本語"),
    ("日本語".encode("iso-2022-jp"), "iso-2022-jp", "日本語"),
    ("привет".encode("koi8-r"), "koi8-r", "привет"),
    (b"\x81\x8d\x8f", "", "\ufffd\ufffd\ufffd"),         # undecodable: replaced, no crash
])
def test_decode_bytes(data, charset, expected):
    assert decode_bytes(data, charset) == expected


def test_decode_words_joins_a_character_split_across_words():
    assert decode_words("=?utf-8?B?w7E=?= =?utf-8?B?w7E=?=") == "ññ"
    split = "=?utf-8?Q?a=C3?= =?utf-8?Q?=B1b?="
    assert decode_words(split) == "añb"
    assert decode_words("=?bogus?Q?x?=") == "x"
    assert decode_words("plain =?utf-8?B?!!?= text") .startswith("plain")


def test_html_to_text_quotes_blockquotes_and_lists():
    text = html_to_text("<p>New</p><blockquote><p>old</p><blockquote>older</blockquote></blockquote>"
                        "<ul><li>one</li><li>two</li></ul><pre>  a\n  b</pre>")
    assert text.splitlines() == ["New", "", "> old", "", "> > older", "", "- one", "", "- two", "",
                                 "  a", "  b"]


def test_no_input_makes_the_parser_raise():
    """Truncated and corrupted versions of every fixture still parse."""
    rng = random.Random(5)
    for name in ALL:
        raw = eml(name)
        variants = [raw[: len(raw) * k // 7] for k in range(1, 7)]
        for _ in range(4):
            corrupt = bytearray(raw)
            for _ in range(20):
                corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
            variants.append(bytes(corrupt))
        variants += [b"", b"\x00\xff" * 100, b"Content-Type: multipart/mixed; boundary=x\n\n" * 50]
        for variant in variants:
            mail = parse(variant)
            assert isinstance(mail.text, str)
            dedupe_key(variant)
