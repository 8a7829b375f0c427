"""Quoted history off the timeline, in the shapes English and Spanish clients write it."""

import pytest

from mail.helpers import eml
from tierdesk.mail.parse import parse
from tierdesk.mail.quotes import strip_quotes

# (what the sender wrote, the quoted rest)
CASES = {
    "gmail en": ("Thanks, it works now.",
                 "On Mon, 2 Mar 2026 at 10:00, Support <support@helpful.test> wrote:\n> hello"),
    "gmail es, wrapped attribution": (
        "Gracias, ya funciona.",
        "El lun, 2 mar 2026 a las 10:00, Soporte (<support@helpful.test>)\nescribió:\n> hola"),
    "apple es": ("Ya está.", "El 2 mar 2026, a las 10:20, Helpful IT <support@helpful.test> escribió:\n"
                             ">\n> texto"),
    "thunderbird en": ("Still broken.", "On 02/03/2026 10:15, Helpful IT wrote:\n> text"),
    "thunderbird es": ("Sigue igual.", "El 2/3/26 a las 10:15, Helpful IT escribió:\n> texto"),
    "outlook es": ("Sigue cortándose.",
                   "________________________________\nDe: Helpful IT <support@helpful.test>\n"
                   "Enviado: lunes, 2 de marzo de 2026 10:15\nPara: Alice\nAsunto: [TD-1] VPN\n\nhola"),
    "outlook en": ("Same here.", "From: Helpful IT <support@helpful.test>\nSent: Monday, March 2, 2026 "
                                 "10:15 AM\nTo: Alice\nSubject: [TD-1] VPN\n\nhello"),
    "outlook es, enviado el": ("Adjunto el registro.",
                               "-----Mensaje original-----\nDe: Helpful IT\nEnviado el: lunes\n\nhola"),
    "original message": ("Fixed.", "-----Original Message-----\nFrom: x\nhello"),
    "our marker, unquoted": ("Done.", "##- Please type your reply above this line -##\n\nold text"),
    "our marker, es": ("Hecho.", "##- Escriba su respuesta por encima de esta línea -##\n\nantes"),
    "german, via mail-parser-reply": ("Danke.", "Am 02.03.2026 um 10:00 schrieb Support "
                                                "<support@helpful.test>:\n> hallo"),
    "trailing quote, no attribution": ("Yes, please.", "> Shall we restart the server?"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_quoted_history_is_cut(name):
    new, old = CASES[name]
    assert strip_quotes(f"{new}\n\n{old}") == new


def test_indentation_and_inline_answers_are_kept():
    log = "It dropped again:\n\n     16:00:01 tunnel down\n     16:00:07 tunnel up"
    assert strip_quotes(log) == log
    inline = "> Which laptop?\nThe Dell.\n> Since when?\nMonday."
    assert strip_quotes(inline) == inline


def test_bottom_posting_keeps_what_follows_the_quote():
    text = ("On Mon, 2 Mar 2026 at 10:15, Helpful IT <support@helpful.test> wrote:\n"
            "> ##- Please type your reply above this line -##\n> Please import it.\n\nDone.")
    assert strip_quotes(text) == "Done."


def test_nothing_new_keeps_everything():
    only_quote = "> old\n> older"
    assert strip_quotes(only_quote) == only_quote


@pytest.mark.parametrize("name,new", [
    ("gmail_reply_en.eml", "Thanks Tess, the new profile works: no drop since 9:00."),
    ("gmail_reply_es.eml", "Gracias, con el perfil nuevo ya no se corta."),
    ("outlook_reply_es.eml", "Sigue cortándose cada hora, también con el perfil nuevo.\n\nAlice"),
    ("outlook_reply_en_html_only.eml", "Same here on my laptop: it drops at 11:00 and 12:00 exactly."
                                       "\n\nBob"),
    ("apple_reply_es.eml", "A mí también se me corta, a las 12:00 en punto."),
    ("thunderbird_reply_en.eml", "It dropped again at 16:00. Log excerpt:\n\n"
                                 "     16:00:01 tunnel down: DPD timeout\n     16:00:07 tunnel up"),
    ("bottom_post_reply.eml", "Done, it is imported on all three laptops."),
    ("reply_with_attachment_es.eml", "Adjunto el registro del cliente VPN."),
])
def test_fixture_replies(name, new):
    assert strip_quotes(parse(eml(name)).text) == new
