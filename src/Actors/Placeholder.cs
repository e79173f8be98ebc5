namespace CeleryActors.Actors; internal static class Placeholder {}
