"""The built-in procedure texts: used when neither the organisation nor its bureau wrote one.

Markdown, short and plain (language level B1), one per procedure and language. A bureau
replaces them in its template library; an organisation may override the bureau's version.
"""

from __future__ import annotations

from tenants.choices import Procedure

LANGUAGES: tuple[str, ...] = ("nl", "en", "fr")

_UNWANTED_BEHAVIOUR_NL = """\
## Ongewenst gedrag

Heb je op je werk te maken met pesten, seksuele intimidatie, discriminatie, agressie of
geweld? Dan kun je met een vertrouwenspersoon praten.

**Wat doet de vertrouwenspersoon?**

- Luistert naar je verhaal, zonder oordeel.
- Bekijkt met jou wat je kunt doen: van een gesprek tot een klacht.
- Helpt je als je een klacht wilt indienen.
- Neemt later nog contact op om te horen hoe het gaat.

De vertrouwenspersoon doet niets zonder jouw toestemming. Wat je vertelt, blijft
vertrouwelijk. Je kunt ook een melding doen zonder je naam te geven.
"""

_UNWANTED_BEHAVIOUR_EN = """\
## Unwanted behaviour

Are you dealing with bullying, sexual harassment, discrimination, aggression or violence at
work? You can talk to a counsellor.

**What does the counsellor do?**

- Listens to your story, without judging.
- Looks at your options with you: from a conversation to a complaint.
- Helps you if you want to make a complaint.
- Gets back in touch later to hear how you are doing.

The counsellor does nothing without your consent. What you say stays confidential. You can
also report without giving your name.
"""

_UNWANTED_BEHAVIOUR_FR = """\
## Comportement indésirable

Vous vivez du harcèlement, du harcèlement sexuel, de la discrimination, de l'agression ou de
la violence au travail\u00a0? Vous pouvez en parler à une personne de confiance.

**Que fait la personne de confiance\u00a0?**

- Elle écoute votre histoire, sans jugement.
- Elle examine avec vous ce que vous pouvez faire\u00a0: d'une discussion à une plainte.
- Elle vous aide si vous voulez déposer une plainte.
- Elle reprend contact plus tard pour savoir comment vous allez.

La personne de confiance n'agit jamais sans votre consentement. Ce que vous dites reste
confidentiel. Vous pouvez aussi faire un signalement sans donner votre nom.
"""

_INTEGRITY_NL = """\
## Integriteit en misstanden

Zie je op je werk fraude, corruptie, diefstal, belangenverstrengeling of misbruik van
informatie of middelen? Of een misstand die het algemeen belang schaadt? Dan kun je dat
melden bij een vertrouwenspersoon.

**Wat gebeurt er na je melding?**

1. Binnen 7 dagen krijg je een ontvangstbevestiging.
2. Binnen 3 maanden daarna krijg je terugkoppeling over wat er met je melding gebeurt.
3. Met je meldcode lees je berichten en stuur je extra informatie.

Je mag anoniem melden. Wie te goeder trouw meldt, is beschermd tegen benadeling. De
vertrouwenspersoon zet geen stap zonder jouw toestemming.
"""

_INTEGRITY_EN = """\
## Integrity and wrongdoing

Do you see fraud, corruption, theft, conflicts of interest or misuse of information or
resources at work? Or wrongdoing that harms the public interest? You can report it to a
counsellor.

**What happens after your report?**

1. Within 7 days you get an acknowledgement.
2. Within 3 months after that you get feedback on what happens with your report.
3. With your receipt code you read messages and send more information.

You may report anonymously. If you report in good faith, you are protected against
retaliation. The counsellor takes no step without your consent.
"""

_INTEGRITY_FR = """\
## Intégrité et abus

Vous constatez au travail une fraude, de la corruption, un vol, un conflit d'intérêts ou un
mauvais usage d'informations ou de moyens\u00a0? Ou un abus qui nuit à l'intérêt
public\u00a0? Vous pouvez le signaler à une personne de confiance.

**Que se passe-t-il après votre signalement\u00a0?**

1. Dans les 7 jours, vous recevez un accusé de réception.
2. Dans les 3 mois qui suivent, vous recevez un retour d'information sur la suite donnée.
3. Avec votre code de suivi, vous lisez les messages et envoyez des informations.

Vous pouvez faire un signalement anonyme. Si vous signalez de bonne foi, vous êtes protégé
contre les représailles. La personne de confiance n'agit jamais sans votre consentement.
"""

_REHABILITATION_NL = """\
## Rehabilitatie

Ben je ten onrechte beschuldigd, en vond je werkgever de beschuldiging ongegrond? Dan kan de
vertrouwenspersoon je helpen bij je herstel.

**Hoe werkt het?**

1. Een eerste gesprek over wat er is gebeurd.
2. Samen bepalen jullie wat nodig is.
3. Een plan: wie moet wat weten, en hoe vertel je dat.
4. Afspraken met je werkgever uitvoeren.
5. Een gesprek achteraf om te kijken hoe het gaat.

Niets gebeurt zonder jouw toestemming.
"""

_REHABILITATION_EN = """\
## Rehabilitation

Were you wrongly accused, and did your employer find the accusation unfounded? The counsellor
can help you recover.

**How does it work?**

1. A first talk about what happened.
2. Together you decide what is needed.
3. A plan: who needs to know what, and how to tell them.
4. Carrying out the agreements with your employer.
5. A talk afterwards to see how you are doing.

Nothing happens without your consent.
"""

_REHABILITATION_FR = """\
## Réhabilitation

Vous avez été accusé à tort, et votre employeur a jugé l'accusation non fondée\u00a0? La
personne de confiance peut vous aider à vous rétablir.

**Comment cela se passe-t-il\u00a0?**

1. Un premier entretien sur ce qui s'est passé.
2. Ensemble, vous décidez de ce qui est nécessaire.
3. Un plan\u00a0: qui doit savoir quoi, et comment le dire.
4. La mise en œuvre des accords avec votre employeur.
5. Un entretien plus tard pour voir comment vous allez.

Rien ne se fait sans votre consentement.
"""

DEFAULT_TEXTS: dict[Procedure, dict[str, str]] = {
    Procedure.UNWANTED_BEHAVIOUR: {
        "nl": _UNWANTED_BEHAVIOUR_NL,
        "en": _UNWANTED_BEHAVIOUR_EN,
        "fr": _UNWANTED_BEHAVIOUR_FR,
    },
    Procedure.INTEGRITY: {"nl": _INTEGRITY_NL, "en": _INTEGRITY_EN, "fr": _INTEGRITY_FR},
    Procedure.REHABILITATION: {
        "nl": _REHABILITATION_NL,
        "en": _REHABILITATION_EN,
        "fr": _REHABILITATION_FR,
    },
}


def default_text(procedure: Procedure, language: str) -> str:
    """The built-in text; English for a language without one."""
    texts = DEFAULT_TEXTS[procedure]
    return texts.get(language, texts["en"])
