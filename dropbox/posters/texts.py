"""The poster's words, per language. Kept here, not in the Flask catalogue: a poster is printed by the
operator, not served to a reporter, and its wording is tied to the layout (short lines, three steps).
The terms follow the reporter pages' translations: "receipt code" is "код за достъп" / "код доступа" /
"құпия код", the case number is "номер на сигнала" / "номер сообщения" / "хабарлама нөмірі"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PosterTexts:
    headline: str
    subline: str
    scan: str
    steps: tuple[tuple[str, str], tuple[str, str], tuple[str, str]]  # (title, one short sentence)
    after: str  # what the reporter gets at the end
    safety_title: str
    open_onion: str  # followed by the onion QR code and address
    safety_onion: str  # advice when there is an onion address
    safety_plain: str  # advice when there is none: only what is true without it
    footer: str


TEXTS: dict[str, PosterTexts] = {
    "en": PosterTexts(
        headline="Saw something? Report it anonymously.",
        subline="No app, no account. Three short steps.",
        scan="Scan with your phone camera",
        steps=(
            ("What happened?", "Choose what it is and describe it in a few words."),
            ("Where?", "Your phone's location, a place from the list, or type it yourself."),
            ("Photos", "Add photos if you can. We remove their hidden data."),
        ),
        after="You get a case number and a secret receipt code: with it you read the officers' answer.",
        safety_title="Could reporting put you at risk?",
        open_onion="Open this address in Tor Browser:",
        safety_onion="Use Tor Browser, not a work phone or a school computer. Keep your receipt code secret.",
        safety_plain="Open the address above in Tor Browser, not on a work phone or a school computer. "
        "Keep your receipt code secret.",
        footer="No account, no tracking. We do not record your IP address or device.",
    ),
    "bg": PosterTexts(
        headline="Видяхте нещо? Подайте анонимен сигнал.",
        subline="Без приложение и без регистрация. Три кратки стъпки.",
        scan="Сканирайте с камерата на телефона",
        steps=(
            ("Какво се случи?", "Изберете вида и опишете с няколко думи."),
            ("Къде?", "Местоположението на телефона, място от списъка или напишете сами."),
            ("Снимки", "Добавете снимки, ако можете. Премахваме скритите данни в тях."),
        ),
        after="Получавате номер на сигнала и таен код за достъп: с него четете отговора на служителите.",
        safety_title="Сигналът може да ви изложи на риск?",
        open_onion="Отворете този адрес в Tor Browser:",
        safety_onion="Използвайте Tor Browser, а не служебен телефон или училищен компютър. "
        "Пазете кода за достъп в тайна.",
        safety_plain="Отворете адреса по-горе в Tor Browser, а не на служебен телефон или училищен "
        "компютър. Пазете кода за достъп в тайна.",
        footer="Без регистрация и без проследяване. Не записваме нито вашия IP адрес, нито устройството ви.",
    ),
    "ru": PosterTexts(
        headline="Видели что-то? Сообщите анонимно.",
        subline="Без приложения и регистрации. Три коротких шага.",
        scan="Наведите камеру телефона",
        steps=(
            ("Что произошло?", "Выберите, что случилось, и опишите в двух словах."),
            ("Где?", "Место по телефону, место из списка или напишите сами."),
            ("Фото", "Если можете, добавьте фото. Скрытые данные в них мы удаляем."),
        ),
        after="Вы получите номер сообщения и секретный код доступа: по нему вы прочитаете ответ.",
        safety_title="Сообщение может быть для вас опасным?",
        open_onion="Откройте этот адрес в Tor Browser:",
        safety_onion="Пользуйтесь Tor Browser, а не рабочим телефоном или школьным компьютером. "
        "Держите код доступа в секрете.",
        safety_plain="Откройте адрес выше в Tor Browser, а не на рабочем телефоне или школьном компьютере. "
        "Держите код доступа в секрете.",
        footer="Без регистрации и слежки. Мы не сохраняем ни ваш IP-адрес, ни данные устройства.",
    ),
    "kk": PosterTexts(
        headline="Бірдеңе көрдіңіз бе? Анонимді хабарлаңыз.",
        subline="Қосымшасыз, тіркелусіз. Үш қысқа қадам.",
        scan="Телефон камерасымен сканерлеңіз",
        steps=(
            ("Не болды?", "Түрін таңдап, бірнеше сөзбен сипаттаңыз."),
            ("Қай жерде?", "Телефонның орны, тізімдегі орын немесе өзіңіз жазыңыз."),
            ("Фото", "Мүмкін болса, фото қосыңыз. Ондағы жасырын деректерді өшіреміз."),
        ),
        after="Сізге хабарлама нөмірі мен құпия код беріледі: сол арқылы қызметкерлердің жауабын оқисыз.",
        safety_title="Хабарлау сізге қауіпті ме?",
        open_onion="Бұл мекенжайды Tor Browser-де ашыңыз:",
        safety_onion="Жұмыс телефонын немесе мектеп компьютерін емес, Tor Browser-ді қолданыңыз. "
        "Құпия кодты ешкімге көрсетпеңіз.",
        safety_plain="Жоғарыдағы мекенжайды жұмыс телефонында немесе мектеп компьютерінде емес, "
        "Tor Browser-де ашыңыз. Құпия кодты ешкімге көрсетпеңіз.",
        footer="Тіркелу де, бақылау да жоқ. Біз IP мекенжайыңызды да, құрылғыңызды да сақтамаймыз.",
    ),
}
