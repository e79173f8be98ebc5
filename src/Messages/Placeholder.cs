namespace CeleryActors.Messages; internal static class Placeholder {}
