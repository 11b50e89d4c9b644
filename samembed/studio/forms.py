"""Studio forms: every field validated and bounded before it can reach a query.

Form values are always plain strings, booleans or lists of strings built here,
never dictionaries from the request, so an operator payload such as
`{"$gt": ""}` can only ever be a (refused or stored-as-text) string.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.text import slugify

from samembed.embed.i18n import NAMES
from samembed.media.images import MAX_BYTES, ImageRefused, Normalised, normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import media as media_repo
from samembed.repositories.stories import (
    CTA_MAX,
    DESCRIPTION_MAX,
    FONTS,
    SCREEN_BRANDING,
    SCREEN_INTERVAL_MAX,
    SCREEN_INTERVAL_MIN,
    SCREEN_MODES,
    SLUG_MAX,
    TEMPLATES,
    THEME_MODES,
    TITLE_MAX,
    URL_MAX,
    Screen,
    Story,
    Theme,
    normalise_language,
)

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# A logo uploaded here: the media store's key (the SHA-256 of the re-encoded bytes).
STORED_LOGO = re.compile(rf"^{STORED_PREFIX}[0-9a-f]{{64}}$")
# A host name, optionally "*." in front and ":port" behind (what frame-ancestors takes).
DOMAIN = re.compile(
    r"^(\*\.)?(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:\d{1,5})?$"
)
MAX_DOMAINS = 50


def parse_version(raw: str | None) -> int | None:
    """The version a form was based on, or None when it is missing or not a number."""
    try:
        version = int(raw or "")
    except ValueError:
        return None
    return version if 0 < version < 2**62 else None


def parse_page(raw: str | None) -> int:
    """A 1-based page number; anything odd is page 1 (pages past 10,000 are clamped)."""
    try:
        return max(1, min(int(raw or "1"), 10_000))
    except ValueError:
        return 1


def make_slug(text: str) -> str:
    """A readable slug; non-ASCII letters are kept ("fête-du-port")."""
    return slugify(text, allow_unicode=True)[:SLUG_MAX].strip("-")


def _colour(value: str, field: str) -> str:
    if not COLOUR.match(value):
        raise forms.ValidationError(f"{field} must be a colour like #1a2b3c.")
    return value.lower()


class StoryForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX, strip=True)
    slug = forms.CharField(
        max_length=SLUG_MAX, required=False,
        help_text="Made from the title when left empty. Old slugs keep redirecting.",
    )
    description = forms.CharField(max_length=DESCRIPTION_MAX, required=False,
                                  widget=forms.Textarea)
    default_template = forms.ChoiceField(choices=[(t, t) for t in TEMPLATES])
    accent = forms.CharField(max_length=7, initial=Theme.accent)
    background = forms.CharField(max_length=7, required=False)
    font = forms.ChoiceField(choices=[(f, f) for f in FONTS])
    mode = forms.ChoiceField(choices=[(m, m) for m in THEME_MODES])
    live = forms.BooleanField(required=False)
    allowed_domains = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea,
        help_text="One host name per line (example.com, *.example.com). Empty: anywhere.",
    )
    screen_mode = forms.ChoiceField(choices=[(m, m) for m in SCREEN_MODES], required=False)
    screen_interval = forms.IntegerField(min_value=SCREEN_INTERVAL_MIN,
                                         max_value=SCREEN_INTERVAL_MAX, required=False)
    logo_url = forms.CharField(max_length=URL_MAX, required=False, strip=True)
    # An upload replaces logo_url with the stored copy's `media:` reference, so the
    # merge sees the logo as one field whichever way it was given.
    logo = forms.FileField(required=False)
    # The colour picker always has a colour: this box is how "no background" is said.
    background_default = forms.BooleanField(required=False)
    cta = forms.CharField(max_length=CTA_MAX, required=False, strip=True)
    # Empty: automatic, the most common language of the story's posts.
    language = forms.CharField(max_length=40, required=False, strip=True)

    def clean_language(self) -> str | None:
        value = self.cleaned_data.get("language", "")
        if not value:
            return None
        try:
            return normalise_language(value)
        except ValueError as e:
            raise forms.ValidationError(
                f"{e} Choose one of the listed languages, or Automatic.") from e

    def language_choices(self) -> list[tuple[str, str]]:
        """The language select: automatic, each language we have words for (in its
        own name), and the story's current tag when it is another one."""
        current = self.data.get("language") if self.is_bound else self.initial.get("language")
        choices = [("", "Automatic (from the posts)"), *NAMES.items()]
        if current and current not in NAMES:
            choices.append((current, current))
        return choices

    def clean_logo_url(self) -> str | None:
        value = self.cleaned_data.get("logo_url", "")
        if not value:
            return None
        if value.startswith(STORED_PREFIX):
            if STORED_LOGO.match(value):
                return value
            raise forms.ValidationError("This uploaded logo reference is not valid; upload "
                                        "the logo again.")
        # https only (the embed's img-src), or a path on this site (/static/...).
        if value.startswith("https://") or (value.startswith("/") and not value.startswith("//")):
            if not any(c.isspace() for c in value):
                return value
        raise forms.ValidationError("The logo must be an https:// URL or a path on this site.")

    def clean_logo(self) -> Normalised | None:
        upload = self.cleaned_data.get("logo")
        if upload is None:
            return None
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The logo is larger than {MAX_BYTES // (1024 * 1024)} MB; choose a smaller file.")
        try:
            return normalise(upload.read())
        except ImageRefused as e:
            # SVG (which can carry script) and HTML named .png end here: Pillow reads
            # only the four raster formats, by their bytes, not by name or type.
            raise forms.ValidationError(f"{e} Logos are JPEG, PNG, GIF or WebP.") from e

    def clean_slug(self) -> str:
        raw = self.cleaned_data.get("slug", "").strip()
        if not raw:
            return ""
        slug = make_slug(raw)
        if not slug:
            raise forms.ValidationError(
                "A slug needs at least one letter or digit; punctuation alone cannot make one."
            )
        return slug

    def clean_accent(self) -> str:
        return _colour(self.cleaned_data["accent"].strip(), "The accent")

    def clean_background(self) -> str | None:
        value = self.cleaned_data.get("background", "").strip()
        if self.data.get("background_default"):
            return None
        return _colour(value, "The background") if value else None

    def clean_allowed_domains(self) -> list[str]:
        lines = [line.strip().lower() for line in
                 self.cleaned_data.get("allowed_domains", "").splitlines() if line.strip()]
        if len(lines) > MAX_DOMAINS:
            raise forms.ValidationError(f"At most {MAX_DOMAINS} domains.")
        domains = []
        for line in lines:
            host = line.removeprefix("https://").removeprefix("http://").rstrip("/")
            try:
                host = host.encode("idna").decode("ascii") if not host.isascii() else host
            except UnicodeError as e:
                raise forms.ValidationError(f"{line!r} is not a valid domain.") from e
            if not DOMAIN.match(host):
                raise forms.ValidationError(
                    f"{line!r} is not a valid domain (like example.com or *.example.com).")
            domains.append(host)
        return list(dict.fromkeys(domains))

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        logo: Normalised | None = data.get("logo")
        if logo is not None:
            # Stored now, even when another field fails: the form shown again carries
            # the reference, so the file need not be chosen a second time.
            reference = STORED_PREFIX + media_repo.put(logo.data, logo.content_type)
            data["logo_url"] = reference
            self.errors.pop("logo_url", None)
            shown = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            shown["logo_url"] = reference
            self.data = shown
        if not self.errors and not data.get("slug"):
            data["slug"] = make_slug(data.get("title", ""))
            if not data["slug"]:
                self.add_error("slug", "The title has no letters or digits to make a slug "
                                       "from; enter a slug.")
        return data

    def story_fields(self) -> dict[str, Any]:
        """The repository's fields for the cleaned values."""
        d = self.cleaned_data
        return {
            "title": d["title"],
            "slug": d["slug"],
            "description": d["description"],
            "default_template": d["default_template"],
            "theme": Theme(accent=d["accent"], background=d["background"], font=d["font"],
                           mode=d["mode"]),
            "live": d["live"],
            "allowed_domains": tuple(d["allowed_domains"]),
            "language": d["language"],
            # Only the look: the remote's controls are kept as they are (stories.update).
            "screen": Screen(mode=d.get("screen_mode") or Screen.mode,
                             interval=d.get("screen_interval") or Screen.interval,
                             logo_url=d.get("logo_url"), cta=d.get("cta") or ""),
        }

    @staticmethod
    def initial_for(story: Story) -> dict[str, Any]:
        return {
            "title": story.title, "slug": story.slug, "description": story.description,
            "default_template": story.default_template, "accent": story.theme.accent,
            "background": story.theme.background or "",
            "background_default": not story.theme.background, "font": story.theme.font,
            "mode": story.theme.mode, "live": story.live,
            "allowed_domains": "\n".join(story.allowed_domains),
            "screen_mode": story.screen.mode, "screen_interval": story.screen.interval,
            "logo_url": story.screen.logo_url or "", "cta": story.screen.cta,
            "language": story.language or "",
        }


# The fields the audit trail compares, theme fields flattened to theme_<name>.
AUDITED = ("title", "slug", "description", "default_template", "live", "allowed_domains",
           "language")


def fields_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a form is about to save, as the audit trail shows them."""
    values = {k: fields[k] for k in AUDITED}
    values["allowed_domains"] = list(values["allowed_domains"])
    values.update({f"theme_{k}": v for k, v in asdict(fields["theme"]).items()})
    values.update({f"screen_{k}": getattr(fields["screen"], k) for k in SCREEN_BRANDING})
    return values


def story_values(story: Story) -> dict[str, Any]:
    """A story's editable fields in the same view, with its status."""
    return {**fields_values({k: getattr(story, k) for k in (*AUDITED, "theme", "screen")}),
            "status": story.status}


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(max_length=500, widget=forms.PasswordInput, strip=False)
