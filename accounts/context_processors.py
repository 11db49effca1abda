def theme(request) -> dict:
    """Put the logged-in user's theme (light or dark) in every template."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from accounts.models import Preferences

    found = Preferences.objects.filter(owner=user).values_list("theme", flat=True).first()
    return {"theme": found or Preferences.Theme.LIGHT}
