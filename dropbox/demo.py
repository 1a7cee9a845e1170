"""The demo instance behind `sealdrop init --demo`: desks, the seeds' categories in four languages,
places, and demo officers whose identities have an empty passphrase (marked DEMO ONLY everywhere)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from crypto import Identity

from .models import Category, Desk, Officer, Place

CATEGORIES = [
    ("drugs", "Drug dealing", "Разпространение на наркотици", "Торговля наркотиками", "Есірткі сату"),
    (
        "traffic",
        "Traffic violation",
        "Нарушение на правилата за движение",
        "Нарушение ПДД",
        "Жол жүру ережесін бұзу",
    ),
    ("accident", "Road accident", "Пътнотранспортно произшествие", "ДТП", "Жол-көлік оқиғасы"),
    (
        "domestic-violence",
        "Domestic violence",
        "Домашно насилие",
        "Домашнее насилие",
        "Тұрмыстық зорлық-зомбылық",
    ),
    (
        "child-abuse",
        "Cruelty to a child",
        "Насилие над дете",
        "Жестокое обращение с ребёнком",
        "Балаға қатыгездік",
    ),
    (
        "animals",
        "Cruelty to animals",
        "Жестокост към животни",
        "Жестокое обращение с животными",
        "Жануарларға қатыгездік",
    ),
    (
        "hooliganism",
        "Hooliganism or fights",
        "Хулиганство или сбиване",
        "Хулиганство или драка",
        "Бұзақылық немесе төбелес",
    ),
    ("noise", "Noise", "Шум", "Шум", "Шу"),
    (
        "drunkenness",
        "Public drunkenness",
        "Пиянство на обществено място",
        "Пьянство в общественном месте",
        "Қоғамдық орында маскүнемдік",
    ),
    (
        "corruption",
        "Corruption, including by police officers",
        "Корупция, включително от полицаи",
        "Коррупция, в том числе сотрудников полиции",
        "Сыбайлас жемқорлық, соның ішінде полиция қызметкерлері",
    ),
    ("other", "Something else", "Друго", "Другое", "Басқа"),
]

PLACES = [
    ({"en": "School No. 5", "bg": "5-о училище", "ru": "Школа № 5", "kk": "№ 5 мектеп"}, 42.6931, 23.3219),
    (
        {"en": "Central park", "bg": "Централен парк", "ru": "Центральный парк", "kk": "Орталық саябақ"},
        42.6866,
        23.3296,
    ),
    ({"en": "Bus station", "bg": "Автогара", "ru": "Автовокзал", "kk": "Автовокзал"}, 42.7120, 23.3210),
]


# The demo instance's config: a proof of work of a few milliseconds, so that demos and the browser tests
# are not slowed by it; a real instance keeps Config's default (about a second on a phone,
# docs/operator-guide.md "Floods").
SETTINGS = {"pow_work": 16}

# The demo desk's officer's identity file in the instance folder (`init --demo` names it; `serve` looks
# for it to print the demo desk's address).
OFFICER_IDENTITY = "demo-officer.identity"


def _names(en: str, bg: str, ru: str, kk: str) -> dict[str, str]:
    return {"en": en, "bg": bg, "ru": ru, "kk": kk}


def _officer(session: Session, desk: Desk, instance: Path, filename: str, name: str) -> None:
    identity = Identity.generate(demo=True)
    identity.save(instance / filename, "")
    (instance / f"{filename}.pub").write_text(identity.public_key.to_file_text(comment=f"DEMO ONLY: {name}"))
    session.add(
        Officer(
            desk=desk,
            name=name,
            public_key=identity.public_key.encode(),
            key_id=identity.public_key.recipient.key_id.hex(),
            fingerprint=identity.fingerprint,
            confirmed=True,
            demo=True,
        )
    )


def create(session: Session, instance: Path) -> None:
    demo = Desk(
        slug="demo", names=_names("Demo municipality", "Демо община", "Демо-муниципалитет", "Демо әкімдік")
    )
    internal = Desk(
        slug="demo-internal",
        names=_names(
            "Demo internal security",
            "Демо вътрешна сигурност",
            "Демо служба собственной безопасности",
            "Демо ішкі қауіпсіздік қызметі",
        ),
    )
    session.add_all([demo, internal])
    session.flush()
    for position, (slug, *names) in enumerate(CATEGORIES):
        route = internal if slug == "corruption" else None
        session.add(Category(desk=demo, slug=slug, names=_names(*names), position=position, route_desk=route))
    session.add(Category(desk=internal, slug="corruption", names=_names(*CATEGORIES[9][1:]), position=0))
    for position, (names, lat, lon) in enumerate(PLACES):
        session.add(Place(desk=demo, names=names, lat=lat, lon=lon, position=position))
    _officer(session, demo, instance, OFFICER_IDENTITY, "Demo officer")
    _officer(session, internal, instance, "demo-internal-officer.identity", "Demo internal-security officer")
    session.commit()
