"""The embed's own words (read path): one table per language, chosen per story.

Templates get the story's table as `t` (`{{ t.show_more }}`); scripts in the
frame get the strings they need from `data-` attributes the template writes, so
no script carries a table of its own. A key missing from a language falls back
to English, so a new string can ship before its translations.

A story's language is the tag its editor chose, or, when it is left automatic,
the most common language of the posts being rendered (already fetched for the
render, so choosing it costs no query): `language_for()`.

    >>> strings("fr")["show_more"]
    'Afficher plus'
    >>> language_for(None, ["de", "de-AT", "en"]).tag
    'de'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType

DEFAULT = "en"

# Keys are the contract between templates, scripts and translations.
ENGLISH: dict[str, str] = {
    "view_on_mastodon": "View on Mastodon",
    "view_on_bluesky": "View on Bluesky",
    "read_article": "Read the article",
    "view_original": "View original",
    "more_on": "More on {title}",
    "show_more": "Show more",
    "loading": "Loading…",
    "show": "Show",
    "hide": "Hide",
    "content_warning": "Content warning",
    "sensitive_media": "Sensitive media",
    "pinned": "Pinned",
    "highlighted": "Highlighted",
    "video": "Video",
    "play": "Play",
    "pause": "Pause",
    "close": "Close",
    "previous": "Previous",
    "next": "Next",
    "slide_of": "{index} of {count}",
    "posts": "Posts",
    "skip_story": "Skip past this story",
    "live": "Live",
    "end_of_story": "End of the story",
    "image_of": "Image {n} of {count}",
    "pause_updates": "Pause updates",
    "resume_updates": "Resume updates",
    "new_post": "New post",
    "new_post_by": "New post by {name}",
    "new_posts": "{count} new posts",
    "offline": "Offline · showing the last update",
    "no_posts_title": "No posts yet",
    "no_posts_body": "New posts will appear here.",
    "follow_on_phone": "Follow along on your phone",
    "embed_story": "Embed this story",
    # The server's fallback for relative times; the frame rewrites them with
    # Intl.RelativeTimeFormat in the reader's browser.
    "time_now": "now",
    "time_minutes": "{n}m",
    "time_hours": "{n}h",
    "time_days": "{n}d",
    # Dates older than a week and exact times, for the same fallback: {day}, {dd}
    # (two digits), {month}, {mm}, {mon} (English abbreviation), {year}, {time}.
    "date_short": "{day} {mon}",
    "date_long": "{day} {mon} {year}",
    "date_time": "{day} {mon} {year}, {time} UTC",
}

FRENCH = {
    "view_on_mastodon": "Voir sur Mastodon",
    "view_on_bluesky": "Voir sur Bluesky",
    "read_article": "Lire l’article",
    "view_original": "Voir l’original",
    "more_on": "Plus sur {title}",
    "show_more": "Afficher plus",
    "loading": "Chargement…",
    "show": "Afficher",
    "hide": "Masquer",
    "content_warning": "Avertissement de contenu",
    "sensitive_media": "Contenu sensible",
    "pinned": "Épinglé",
    "highlighted": "À la une",
    "video": "Vidéo",
    "play": "Lecture",
    "pause": "Pause",
    "close": "Fermer",
    "previous": "Précédent",
    "next": "Suivant",
    "slide_of": "{index} sur {count}",
    "posts": "Publications",
    "skip_story": "Passer ce fil",
    "end_of_story": "Fin du fil",
    "image_of": "Image {n} sur {count}",
    "live": "En direct",
    "pause_updates": "Suspendre les mises à jour",
    "resume_updates": "Reprendre les mises à jour",
    "new_post": "Nouvelle publication",
    "new_post_by": "Nouvelle publication de {name}",
    "new_posts": "{count} nouvelles publications",
    "offline": "Hors ligne · dernière mise à jour affichée",
    "no_posts_title": "Aucune publication pour l’instant",
    "no_posts_body": "Les nouvelles publications apparaîtront ici.",
    "follow_on_phone": "Suivez en direct sur votre téléphone",
    "embed_story": "Intégrer ce fil",
    "time_now": "à l’instant",
    "time_minutes": "{n} min",
    "time_hours": "{n} h",
    "time_days": "{n} j",
    "date_short": "{dd}/{mm}",
    "date_long": "{dd}/{mm}/{year}",
    "date_time": "{dd}/{mm}/{year} {time} UTC",
}

GERMAN = {
    "view_on_mastodon": "Auf Mastodon ansehen",
    "view_on_bluesky": "Auf Bluesky ansehen",
    "read_article": "Artikel lesen",
    "view_original": "Original ansehen",
    "more_on": "Mehr zu {title}",
    "show_more": "Mehr anzeigen",
    "loading": "Wird geladen…",
    "show": "Anzeigen",
    "hide": "Ausblenden",
    "content_warning": "Inhaltswarnung",
    "sensitive_media": "Sensible Inhalte",
    "pinned": "Angeheftet",
    "highlighted": "Hervorgehoben",
    "video": "Video",
    "play": "Abspielen",
    "pause": "Pausieren",
    "close": "Schließen",
    "previous": "Zurück",
    "next": "Weiter",
    "slide_of": "{index} von {count}",
    "posts": "Beiträge",
    "skip_story": "Diese Story überspringen",
    "end_of_story": "Ende der Story",
    "image_of": "Bild {n} von {count}",
    "live": "Live",
    "pause_updates": "Aktualisierung pausieren",
    "resume_updates": "Aktualisierung fortsetzen",
    "new_post": "Neuer Beitrag",
    "new_post_by": "Neuer Beitrag von {name}",
    "new_posts": "{count} neue Beiträge",
    "offline": "Offline · letzter Stand",
    "no_posts_title": "Noch keine Beiträge",
    "no_posts_body": "Neue Beiträge erscheinen hier.",
    "follow_on_phone": "Auf dem Handy mitverfolgen",
    "embed_story": "Diese Story einbetten",
    "time_now": "jetzt",
    "time_minutes": "{n} Min.",
    "time_hours": "{n} Std.",
    "time_days": "{n} T.",
    "date_short": "{day}.{month}.",
    "date_long": "{day}.{month}.{year}",
    "date_time": "{day}.{month}.{year}, {time} UTC",
}

SPANISH = {
    "view_on_mastodon": "Ver en Mastodon",
    "view_on_bluesky": "Ver en Bluesky",
    "read_article": "Leer el artículo",
    "view_original": "Ver original",
    "more_on": "Más sobre {title}",
    "show_more": "Mostrar más",
    "loading": "Cargando…",
    "show": "Mostrar",
    "hide": "Ocultar",
    "content_warning": "Advertencia de contenido",
    "sensitive_media": "Contenido sensible",
    "pinned": "Fijado",
    "highlighted": "Destacado",
    "video": "Vídeo",
    "play": "Reproducir",
    "pause": "Pausar",
    "close": "Cerrar",
    "previous": "Anterior",
    "next": "Siguiente",
    "slide_of": "{index} de {count}",
    "posts": "Publicaciones",
    "skip_story": "Saltar esta historia",
    "end_of_story": "Fin de la historia",
    "image_of": "Imagen {n} de {count}",
    "live": "En directo",
    "pause_updates": "Pausar actualizaciones",
    "resume_updates": "Reanudar actualizaciones",
    "new_post": "Nueva publicación",
    "new_post_by": "Nueva publicación de {name}",
    "new_posts": "{count} publicaciones nuevas",
    "offline": "Sin conexión · última actualización",
    "no_posts_title": "Aún no hay publicaciones",
    "no_posts_body": "Las nuevas publicaciones aparecerán aquí.",
    "follow_on_phone": "Síguelo en tu móvil",
    "embed_story": "Insertar esta historia",
    "time_now": "ahora",
    "time_minutes": "{n} min",
    "time_hours": "{n} h",
    "time_days": "{n} d",
    "date_short": "{day}/{month}",
    "date_long": "{day}/{month}/{year}",
    "date_time": "{day}/{month}/{year}, {time} UTC",
}

PORTUGUESE = {
    "view_on_mastodon": "Ver no Mastodon",
    "view_on_bluesky": "Ver no Bluesky",
    "read_article": "Ler o artigo",
    "view_original": "Ver original",
    "more_on": "Mais sobre {title}",
    "show_more": "Mostrar mais",
    "loading": "Carregando…",
    "show": "Mostrar",
    "hide": "Ocultar",
    "content_warning": "Aviso de conteúdo",
    "sensitive_media": "Conteúdo sensível",
    "pinned": "Fixado",
    "highlighted": "Destaque",
    "video": "Vídeo",
    "play": "Reproduzir",
    "pause": "Pausar",
    "close": "Fechar",
    "previous": "Anterior",
    "next": "Próximo",
    "slide_of": "{index} de {count}",
    "posts": "Publicações",
    "skip_story": "Pular esta história",
    "end_of_story": "Fim da história",
    "image_of": "Imagem {n} de {count}",
    "live": "Ao vivo",
    "pause_updates": "Pausar atualizações",
    "resume_updates": "Retomar atualizações",
    "new_post": "Nova publicação",
    "new_post_by": "Nova publicação de {name}",
    "new_posts": "{count} novas publicações",
    "offline": "Sem conexão · mostrando a última atualização",
    "no_posts_title": "Nenhuma publicação ainda",
    "no_posts_body": "As novas publicações aparecerão aqui.",
    "follow_on_phone": "Acompanhe pelo celular",
    "embed_story": "Incorporar esta história",
    "time_now": "agora",
    "time_minutes": "{n} min",
    "time_hours": "{n} h",
    "time_days": "{n} d",
    "date_short": "{dd}/{mm}",
    "date_long": "{dd}/{mm}/{year}",
    "date_time": "{dd}/{mm}/{year} {time} UTC",
}

ITALIAN = {
    "view_on_mastodon": "Vedi su Mastodon",
    "view_on_bluesky": "Vedi su Bluesky",
    "read_article": "Leggi l’articolo",
    "view_original": "Vedi l’originale",
    "more_on": "Altro su {title}",
    "show_more": "Mostra altro",
    "loading": "Caricamento…",
    "show": "Mostra",
    "hide": "Nascondi",
    "content_warning": "Avviso sul contenuto",
    "sensitive_media": "Contenuti sensibili",
    "pinned": "Fissato",
    "highlighted": "In evidenza",
    "video": "Video",
    "play": "Riproduci",
    "pause": "Pausa",
    "close": "Chiudi",
    "previous": "Precedente",
    "next": "Successivo",
    "slide_of": "{index} di {count}",
    "posts": "Post",
    "skip_story": "Salta questa storia",
    "end_of_story": "Fine della storia",
    "image_of": "Immagine {n} di {count}",
    "live": "In diretta",
    "pause_updates": "Sospendi aggiornamenti",
    "resume_updates": "Riprendi aggiornamenti",
    "new_post": "Nuovo post",
    "new_post_by": "Nuovo post di {name}",
    "new_posts": "{count} nuovi post",
    "offline": "Offline · ultimo aggiornamento",
    "no_posts_title": "Ancora nessun post",
    "no_posts_body": "I nuovi post appariranno qui.",
    "follow_on_phone": "Segui dal tuo telefono",
    "embed_story": "Incorpora questa storia",
    "time_now": "ora",
    "time_minutes": "{n} min",
    "time_hours": "{n} h",
    "time_days": "{n} g",
    "date_short": "{day}/{month}",
    "date_long": "{day}/{month}/{year}",
    "date_time": "{day}/{month}/{year}, {time} UTC",
}

DUTCH = {
    "view_on_mastodon": "Bekijk op Mastodon",
    "view_on_bluesky": "Bekijk op Bluesky",
    "read_article": "Lees het artikel",
    "view_original": "Bekijk origineel",
    "more_on": "Meer over {title}",
    "show_more": "Meer tonen",
    "loading": "Laden…",
    "show": "Tonen",
    "hide": "Verbergen",
    "content_warning": "Inhoudswaarschuwing",
    "sensitive_media": "Gevoelige inhoud",
    "pinned": "Vastgezet",
    "highlighted": "Uitgelicht",
    "video": "Video",
    "play": "Afspelen",
    "pause": "Pauzeren",
    "close": "Sluiten",
    "previous": "Vorige",
    "next": "Volgende",
    "slide_of": "{index} van {count}",
    "posts": "Berichten",
    "skip_story": "Dit verhaal overslaan",
    "end_of_story": "Einde van het verhaal",
    "image_of": "Afbeelding {n} van {count}",
    "live": "Live",
    "pause_updates": "Updates pauzeren",
    "resume_updates": "Updates hervatten",
    "new_post": "Nieuw bericht",
    "new_post_by": "Nieuw bericht van {name}",
    "new_posts": "{count} nieuwe berichten",
    "offline": "Offline · laatste update",
    "no_posts_title": "Nog geen berichten",
    "no_posts_body": "Nieuwe berichten verschijnen hier.",
    "follow_on_phone": "Volg mee op je telefoon",
    "embed_story": "Dit verhaal insluiten",
    "time_now": "nu",
    "time_minutes": "{n} min",
    "time_hours": "{n} u",
    "time_days": "{n} d",
    "date_short": "{day}-{month}",
    "date_long": "{day}-{month}-{year}",
    "date_time": "{day}-{month}-{year} {time} UTC",
}

JAPANESE = {
    "view_on_mastodon": "Mastodonで見る",
    "view_on_bluesky": "Blueskyで見る",
    "read_article": "記事を読む",
    "view_original": "元の投稿を見る",
    "more_on": "{title}をもっと見る",
    "show_more": "もっと見る",
    "loading": "読み込み中…",
    "show": "表示",
    "hide": "隠す",
    "content_warning": "閲覧注意",
    "sensitive_media": "センシティブなメディア",
    "pinned": "固定",
    "highlighted": "注目",
    "video": "動画",
    "play": "再生",
    "pause": "一時停止",
    "close": "閉じる",
    "previous": "前へ",
    "next": "次へ",
    "slide_of": "{count}件中{index}件目",
    "posts": "投稿",
    "skip_story": "このストーリーをスキップ",
    "end_of_story": "ストーリーの終わり",
    "image_of": "画像 {n}/{count}",
    "live": "ライブ",
    "pause_updates": "更新を一時停止",
    "resume_updates": "更新を再開",
    "new_post": "新しい投稿",
    "new_post_by": "{name}さんの新しい投稿",
    "new_posts": "新しい投稿が{count}件",
    "offline": "オフライン・最終更新を表示中",
    "no_posts_title": "まだ投稿はありません",
    "no_posts_body": "新しい投稿はここに表示されます。",
    "follow_on_phone": "スマートフォンでフォロー",
    "embed_story": "このストーリーを埋め込む",
    "time_now": "たった今",
    "time_minutes": "{n}分",
    "time_hours": "{n}時間",
    "time_days": "{n}日",
    "date_short": "{month}月{day}日",
    "date_long": "{year}年{month}月{day}日",
    "date_time": "{year}年{month}月{day}日 {time} UTC",
}

ARABIC = {
    "view_on_mastodon": "عرض على Mastodon",
    "view_on_bluesky": "عرض على Bluesky",
    "read_article": "قراءة المقال",
    "view_original": "عرض الأصل",
    "more_on": "المزيد عن {title}",
    "show_more": "عرض المزيد",
    "loading": "جارٍ التحميل…",
    "show": "إظهار",
    "hide": "إخفاء",
    "content_warning": "تحذير بشأن المحتوى",
    "sensitive_media": "وسائط حساسة",
    "pinned": "مثبّت",
    "highlighted": "مميّز",
    "video": "فيديو",
    "play": "تشغيل",
    "pause": "إيقاف مؤقت",
    "close": "إغلاق",
    "previous": "السابق",
    "next": "التالي",
    "slide_of": "{index} من {count}",
    "posts": "المنشورات",
    "skip_story": "تخطّي هذه القصة",
    "end_of_story": "نهاية القصة",
    "image_of": "الصورة {n} من {count}",
    "live": "مباشر",
    "pause_updates": "إيقاف التحديثات مؤقتًا",
    "resume_updates": "استئناف التحديثات",
    "new_post": "منشور جديد",
    "new_post_by": "منشور جديد من {name}",
    "new_posts": "منشورات جديدة: {count}",
    "offline": "غير متصل · يُعرض آخر تحديث",
    "no_posts_title": "لا توجد منشورات بعد",
    "no_posts_body": "ستظهر المنشورات الجديدة هنا.",
    "follow_on_phone": "تابِع من هاتفك",
    "embed_story": "تضمين هذه القصة",
    "time_now": "الآن",
    "time_minutes": "{n} د",
    "time_hours": "{n} س",
    "time_days": "{n} ي",
    "date_short": "{day}/{month}",
    "date_long": "{day}/{month}/{year}",
    "date_time": "{day}/{month}/{year}، {time} UTC",
}

HEBREW = {
    "view_on_mastodon": "לצפייה ב-Mastodon",
    "view_on_bluesky": "לצפייה ב-Bluesky",
    "read_article": "לקריאת הכתבה",
    "view_original": "לצפייה במקור",
    "more_on": "עוד על {title}",
    "show_more": "להציג עוד",
    "loading": "בטעינה…",
    "show": "הצגה",
    "hide": "הסתרה",
    "content_warning": "אזהרת תוכן",
    "sensitive_media": "מדיה רגישה",
    "pinned": "נעוץ",
    "highlighted": "מודגש",
    "video": "סרטון",
    "play": "הפעלה",
    "pause": "השהיה",
    "close": "סגירה",
    "previous": "הקודם",
    "next": "הבא",
    "slide_of": "{index} מתוך {count}",
    "posts": "פוסטים",
    "skip_story": "דילוג על הסיפור",
    "end_of_story": "סוף הסיפור",
    "image_of": "תמונה {n} מתוך {count}",
    "live": "שידור חי",
    "pause_updates": "השהיית עדכונים",
    "resume_updates": "חידוש עדכונים",
    "new_post": "פוסט חדש",
    "new_post_by": "פוסט חדש מאת {name}",
    "new_posts": "{count} פוסטים חדשים",
    "offline": "לא מחובר · מוצג העדכון האחרון",
    "no_posts_title": "אין עדיין פוסטים",
    "no_posts_body": "פוסטים חדשים יופיעו כאן.",
    "follow_on_phone": "אפשר לעקוב בטלפון",
    "embed_story": "הטמעת הסיפור",
    "time_now": "עכשיו",
    "time_minutes": "{n} דק׳",
    "time_hours": "{n} שע׳",
    "time_days": "{n} ימ׳",
    "date_short": "{day}.{month}",
    "date_long": "{day}.{month}.{year}",
    "date_time": "{day}.{month}.{year}, {time} UTC",
}

TABLES: dict[str, dict[str, str]] = {
    DEFAULT: ENGLISH, "fr": FRENCH, "de": GERMAN, "es": SPANISH, "pt": PORTUGUESE,
    "it": ITALIAN, "nl": DUTCH, "ja": JAPANESE, "ar": ARABIC, "he": HEBREW,
}
# What the studio's language select shows: each language in its own words.
NAMES: dict[str, str] = {
    "en": "English", "fr": "Français", "de": "Deutsch", "es": "Español",
    "pt": "Português", "it": "Italiano", "nl": "Nederlands", "ja": "日本語",
    "ar": "العربية", "he": "עברית",
}
RTL = frozenset({"ar", "he", "fa", "ur", "ps", "yi", "dv", "ckb", "sd", "ug"})

def base_language(tag: str | None) -> str:
    """The table a BCP 47 tag selects ("pt-BR" -> "pt"), English when we have none."""
    primary = (tag or "").split("-", 1)[0].strip().lower()
    return primary if primary in TABLES else DEFAULT


@cache
def strings(tag: str | None) -> Mapping[str, str]:
    """The embed's words in the language `tag` names, English for missing keys."""
    language = base_language(tag)
    return MappingProxyType({**ENGLISH, **TABLES[language]})


@dataclass(frozen=True)
class Language:
    """What a document says about its language: `<html lang dir>` and its words."""

    tag: str
    dir: str
    t: Mapping[str, str]


@lru_cache(maxsize=256)
def language(tag: str) -> Language:
    """The document language for a tag we have words for (others read as English:
    the `lang` attribute must describe the words the reader sees)."""
    code = base_language(tag)
    shown = tag if code == tag.split("-", 1)[0].lower() else code
    return Language(shown, "rtl" if code in RTL else "ltr", strings(code))


def language_for(chosen: str | None, post_langs: Iterable[str | None]) -> Language:
    """The story's chosen language, or the most common one among `post_langs` (its
    posts, newest first: ties go to the newer), or English."""
    if chosen:
        return language(chosen)
    counts = Counter(lang.split("-", 1)[0].lower() for lang in post_langs if lang)
    top = counts.most_common(1)
    # Only codes we have words for reach the cache: posts' tags are open-ended.
    return language(top[0][0] if top and top[0][0] in TABLES else DEFAULT)
