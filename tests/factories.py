import factory
from django.contrib.auth import get_user_model

from marketdata.models import Symbol


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"trader{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "s3cret-pass-word")
        if create:
            self.save(update_fields=["password"])


class SymbolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Symbol
        django_get_or_create = ("ticker", "venue")

    ticker = factory.Sequence(lambda n: f"SYM{n}")
    venue = "XNAS"
    calendar = "XNYS"
    asset_class = Symbol.AssetClass.EQUITY
