"""The peer's one view: the embed, rendered with our renderer, cached by cache_page."""

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import cache_page
from django.views.decorators.clickjacking import xframe_options_exempt

from samembed.embed.paging import default_limit
from samembed.embed.render import render_embed
from samembed.repositories import posts, stories


@xframe_options_exempt
@cache_page(10)
def embed(request: HttpRequest, slug: str) -> HttpResponse:
    story = stories.get_by_slug(slug)
    if story is None:
        raise Http404("no such story")
    template = request.GET.get("template", story.default_template)
    # The same first page as ours, so both serve the same bytes.
    rendered = render_embed(story, posts.list_published(story.id, default_limit(template)),
                            template)
    response = HttpResponse(rendered.body)
    response["Content-Security-Policy"] = rendered.csp
    return response


urlpatterns = [path("e/<slug>", embed)]
