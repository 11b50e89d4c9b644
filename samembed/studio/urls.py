"""The studio's URL map, mounted at /studio/."""

from __future__ import annotations

from django.urls import path

from samembed.studio import audit, curation, flags, remote, sources, stats, views

urlpatterns = [
    path("", views.story_list, name="studio"),
    path("login", views.login_view, name="studio-login"),
    path("logout", views.logout_view, name="studio-logout"),
    path("stories/new", views.story_new, name="studio-story-new"),
    path("stories/<str:story_id>/", views.story_edit, name="studio-story"),
    path("stories/<str:story_id>/resolve", views.story_resolve, name="studio-story-resolve"),
    path("stories/<str:story_id>/status", views.story_status, name="studio-story-status"),
    path("stories/<str:story_id>/audit", audit.story_audit, name="studio-story-audit"),
    path("stories/<str:story_id>/preview", views.story_preview, name="studio-story-preview"),
    path("stories/<str:story_id>/stats", stats.story_stats, name="studio-story-stats"),
    path("stories/<str:story_id>/posts", curation.queue, name="studio-posts"),
    path("stories/<str:story_id>/remote", remote.remote, name="studio-remote"),
    path("stories/<str:story_id>/remote/command", remote.command, name="studio-remote-command"),
    path("stories/<str:story_id>/posts/bulk", curation.bulk, name="studio-posts-bulk"),
    path("stories/<str:story_id>/posts/new", curation.manual_post, name="studio-post-new"),
    path("stories/<str:story_id>/sources", sources.sources_page, name="studio-sources"),
    path("stories/<str:story_id>/sources/new", sources.source_add, name="studio-source-add"),
    path("stories/<str:story_id>/sources/<str:source_id>", sources.source_action,
         name="studio-source-action"),
    path("stories/<str:story_id>/rules", sources.rules_save, name="studio-rules"),
    path("stories/<str:story_id>/push-token", sources.push_token, name="studio-push-token"),
    path("stories/<str:story_id>/import", sources.import_posts, name="studio-import"),
    path("flags/", flags.flag_list, name="studio-flags"),
    path("flags/<str:key>", flags.flag_edit, name="studio-flag"),
    path("flags/<str:key>/kill", flags.flag_kill, name="studio-flag-kill"),
    path("flags/<str:key>/delete", flags.flag_delete, name="studio-flag-delete"),
    path("posts/restore", curation.restore, name="studio-post-restore"),
    path("posts/<str:post_id>/action", curation.post_action, name="studio-post-action"),
    path("posts/<str:post_id>/move", curation.move, name="studio-post-move"),
    path("posts/<str:post_id>/caption", curation.edit_caption, name="studio-post-caption"),
]
