"""Review and share: review states, ratings, favourites, comments, the gallery, client links."""
