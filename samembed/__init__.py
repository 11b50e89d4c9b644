"""samembed: curated social stories published as fast, cached embeds."""
