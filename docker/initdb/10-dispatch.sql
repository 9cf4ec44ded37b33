-- The embedded dispatch core keeps its own database beside the event store.
CREATE DATABASE dispatch OWNER lianqin;
