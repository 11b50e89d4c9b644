"""The peer's one view: the embed, rendered with our renderer, cached by cache_page."""

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import cache_page
from django.views.decorators.clickjacking import xframe_options_exempt

from samembed.embed.render import EMBED_POST_LIMIT, render_embed
from samembed.repositories import posts, stories


@xframe_options_exempt
@cache_page(10)
def embed(request: HttpRequest, slug: str) -> HttpResponse:
    story = stories.get_by_slug(slug)
    if story is None:
        raise Http404("no such story")
    template = request.GET.get("template", story.default_template)
    rendered = render_embed(story, posts.list_published(story.id, EMBED_POST_LIMIT), template)
    response = HttpResponse(rendered.body)
    response["Content-Security-Policy"] = rendered.csp
    return response


urlpatterns = [path("e/<slug>", embed)]
