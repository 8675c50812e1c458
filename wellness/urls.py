from django.urls import path

from wellness import views

urlpatterns = [path("exposure/", views.my_exposure, name="exposure")]

api_urlpatterns: list = []
